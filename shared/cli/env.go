package cli

import (
	"fmt"
	"io"

	"github.com/kelseyhightower/envconfig"

	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/predict"
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
