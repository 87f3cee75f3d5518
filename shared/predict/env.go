package predict

import (
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/logging"
)

// Env is everything the predict binary (jobs/predict) reads from the
// environment: CICADA_LOG_* and CICADA_PREDICT_*. `cicada run
// --serve-predict` and `cicada local --serve-predict` read it too.
type Env struct {
	Log     logging.Config `envconfig:"LOG"`
	Predict Config         `envconfig:"PREDICT"`
}

// ReadEnv reads the predict service's configuration and validates it.
func ReadEnv() (Env, error) {
	var e Env
	if err := config.Read(&e); err != nil {
		return Env{}, err
	}
	if err := e.Predict.Validate(); err != nil {
		return Env{}, err
	}
	return e, nil
}
