package aggregate

import (
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/redact"
)

// Env is everything the aggregator binary (jobs/aggregator) reads from
// the environment: CICADA_LOG_*, CICADA_PROJECT, CICADA_BUCKET,
// CICADA_SETUP, CICADA_SECRET_HEADERS and CICADA_AGGREGATOR_*.
type Env struct {
	Log logging.Config `envconfig:"LOG"`
	config.Cloud
	redact.Config
	Aggregator Config `envconfig:"AGGREGATOR"`
}

// ReadEnv reads the aggregator binary's configuration. NewService fills
// what is left zero.
func ReadEnv() (Env, error) {
	var e Env
	err := config.Read(&e)
	return e, err
}
