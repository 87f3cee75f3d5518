package cli

import (
	"fmt"
	"io"

	"github.com/kelseyhightower/envconfig"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// envTableFormat renders envconfig's usage as a Markdown table, the form
// the README shows, so that the README is generated from the structs and
// cannot drift from them.
const envTableFormat = `| variable | type | default | meaning |
|---|---|---|---|
{{range .}}| ` + "`{{usage_key .}}`" + ` | {{usage_type .}} | {{with usage_default .}}` + "`{{.}}`" + `{{end}} | {{usage_description .}} |
{{end}}`

// envSpecs lists every binary's configuration: its envconfig prefix and
// struct.
var envSpecs = []struct {
	binary, prefix string
	spec           any
}{
	{"every binary: logging", "CICADA", &logging.Config{}},
	{"every deployed component: where the state lives", "CICADA", &pipeline.Cloud{}},
	{"trigger (functions/trigger)", trigger.EnvPrefix, &trigger.Config{}},
	{"worker (jobs/worker)", "CICADA_WORKER", &worker.Config{}},
	{"aggregator (jobs/aggregator)", "CICADA_AGGREGATOR", &aggregate.Config{}},
	{"predict (jobs/predict, and cicada run --serve-predict)", "CICADA_PREDICT", &predict.Config{}},
}

// writeEnvDoc writes the README's configuration section.
func writeEnvDoc(w io.Writer) error {
	for _, s := range envSpecs {
		fmt.Fprintf(w, "**%s**\n\n", s.binary)
		if err := envconfig.Usagef(s.prefix, s.spec, w, envTableFormat); err != nil {
			return fmt.Errorf("usage of %s: %w", s.prefix, err)
		}
		fmt.Fprintln(w)
	}
	return nil
}
