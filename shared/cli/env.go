package cli

import (
	"fmt"
	"io"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/config"
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

// envSpecs lists every binary with the one struct it reads (its Env).
var envSpecs = []struct {
	binary string
	spec   any
}{
	{"trigger (functions/trigger, and cicada local)", &trigger.Env{}},
	{"worker (jobs/worker)", &worker.Env{}},
	{"aggregator (jobs/aggregator)", &aggregate.Env{}},
	{"predict (jobs/predict, and cicada run/local --serve-predict)", &predict.Env{}},
}

// writeEnvDoc writes the README's configuration section: a table per
// binary of every variable it reads.
func writeEnvDoc(w io.Writer) error {
	for _, s := range envSpecs {
		fmt.Fprintf(w, "**%s**\n\n", s.binary)
		if err := config.Usage(w, s.spec, envTableFormat); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}
