package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/cicadaload/cicada/shared/redact"
)

// secretHeaders is the --secret-header flag: header names whose values are
// credentials, besides redact's defaults, comma-separated or repeated.
type secretHeaders []string

func (s *secretHeaders) String() string { return strings.Join(*s, ",") }

func (s *secretHeaders) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if strings.ContainsAny(n, " \t:=\"'") {
			return fmt.Errorf("%q is not a header name", n)
		}
		*s = append(*s, n)
	}
	return nil
}

// secretHeaderFlag adds --secret-header to fs. Call register once fs is
// parsed: from then on this process redacts those headers too.
func secretHeaderFlag(fs *flag.FlagSet) (register func() []string) {
	var s secretHeaders
	fs.Var(&s, "secret-header", "header `NAMES` (comma-separated, repeatable) whose values are credentials, redacted like Authorization, Cookie and the API-key headers")
	return func() []string {
		redact.AddHeaders(s...)
		return s
	}
}
