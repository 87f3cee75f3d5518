package worker

import (
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/redact"
)

// Env is everything the worker binary (jobs/worker) reads from the
// environment: CICADA_LOG_*, CICADA_PROJECT, CICADA_BUCKET, CICADA_SETUP,
// CICADA_SECRET_HEADERS and CICADA_WORKER_*.
type Env struct {
	Log logging.Config `envconfig:"LOG"`
	config.Cloud
	redact.Config
	Worker Config `envconfig:"WORKER"`
}

// ReadEnv reads the worker binary's configuration. Defaults that depend
// on the machine (the worker's ID) are applied by New.
func ReadEnv() (Env, error) {
	var e Env
	err := config.Read(&e)
	return e, err
}
