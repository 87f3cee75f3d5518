package redact

// Config is the operator's list of credential headers, a part of the
// worker's and the aggregator's Env (embedded: CICADA_SECRET_HEADERS), so
// that one line of their shared configuration serves both. The trigger
// reads its own list (CICADA_TRIGGER_SECRET_HEADERS), which it also
// refuses as literals in a plan.
type Config struct {
	SecretHeaders []string `envconfig:"SECRET_HEADERS" desc:"comma-separated header names whose values are credentials, redacted in sample errors, the plan report.html shows and logs, besides the defaults Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and X-Goog-Api-Key; give the trigger the same list (CICADA_TRIGGER_SECRET_HEADERS)"`
}

// Apply adds c's headers to this process's credential headers
// (AddHeaders); a binary calls it once it has read its Env.
func (c Config) Apply() { AddHeaders(c.SecretHeaders...) }
