// Package config holds the rules every binary's configuration follows.
// Each binary reads one struct from the environment, once, at start: its
// Env, defined by the package of its component (worker.Env,
// aggregate.Env, trigger.Env, predict.Env). An Env is composed of the
// parts the binary needs, each a struct of its own: the logging
// (logging.Config, CICADA_LOG_*), where the state lives (Cloud, CICADA_*),
// and the component's own settings (CICADA_<COMPONENT>_*). The defaults
// are in the struct tags and in the component's package, never in a main.
//
// `cicada env` prints the variables of each Env, and the deployment tests
// check deploy/k8s and deploy/terraform against them.
package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Prefix starts every variable cicada reads.
const Prefix = "CICADA"

// Cloud names where a deployment's state lives: CICADA_PROJECT,
// CICADA_BUCKET and CICADA_SETUP. An Env embeds it (anonymously, so that
// its variables take no further prefix).
type Cloud struct {
	Project string `envconfig:"PROJECT" default:"cicada-local" desc:"Google Cloud project of the Pub/Sub topics"`
	Bucket  string `envconfig:"BUCKET" default:"cicada-runs" desc:"Cloud Storage bucket of the runs"`
	// Setup creates the bucket, topics and subscriptions when missing, and
	// the topics and subscriptions again whenever Pub/Sub finds one
	// missing (an emulator restart loses them): for the emulators; on
	// Google Cloud, Terraform owns them.
	Setup bool `envconfig:"SETUP" default:"false" desc:"create the bucket, topics and subscriptions if missing, at start and again whenever Pub/Sub finds one missing (emulators only; Terraform owns them on Google Cloud)"`
}

// Read fills spec, a pointer to a struct, from the environment: each
// field from its variable (Prefix, then the field's envconfig tag and
// those of the structs around it), else its default.
func Read(spec any) error {
	if err := envconfig.Process(Prefix, spec); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return nil
}

// Usage writes the variables of spec with format, a text/template over
// envconfig's usage entries (see envconfig.Usagef).
func Usage(w io.Writer, spec any, format string) error {
	if err := envconfig.Usagef(Prefix, spec, w, format); err != nil {
		return fmt.Errorf("usage of %T: %w", spec, err)
	}
	return nil
}

// Names are the variables spec reads, in field order.
func Names(spec any) ([]string, error) {
	var b bytes.Buffer
	if err := Usage(&b, spec, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		return nil, err
	}
	return strings.Fields(b.String()), nil
}
