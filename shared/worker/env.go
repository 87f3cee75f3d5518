package worker

import (
	"fmt"
	"strings"

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

// ReadEnv reads the worker binary's configuration and checks its policy
// (CICADA_WORKER_ALLOWED_TARGETS, CICADA_WORKER_MAX_*). Defaults that
// depend on the machine (the worker's ID) are applied by New.
func ReadEnv() (Env, error) {
	var e Env
	if err := config.Read(&e); err != nil {
		return Env{}, err
	}
	if probs := e.Worker.policyRules().Check(); len(probs) > 0 {
		return Env{}, fmt.Errorf("worker config: %s", strings.Join(probs, "; "))
	}
	return e, nil
}
