package predict

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config configures the predict server. It is flat on purpose: envconfig
// prefixes nested structs' fields with their parent's name. It is the
// field Predict of Env, so HTTPAddr comes from CICADA_PREDICT_HTTP_ADDR
// and so on. The demo knobs are all off by default.
type Config struct {
	// HTTPAddr is the REST listen address; empty disables REST.
	HTTPAddr string `envconfig:"HTTP_ADDR" default:"127.0.0.1:8501" desc:"REST listen address; empty disables REST"`
	// GRPCAddr is the gRPC listen address; empty disables gRPC.
	GRPCAddr string `envconfig:"GRPC_ADDR" default:"127.0.0.1:8500" desc:"gRPC listen address; empty disables gRPC"`
	// Latency is added to every valid predict request.
	Latency time.Duration `envconfig:"LATENCY" default:"0s" desc:"fixed latency added to every valid request"`
	// Jitter adds a uniformly random extra 0..Jitter to every valid request.
	Jitter time.Duration `envconfig:"JITTER" default:"0s" desc:"random extra latency, uniform in 0..JITTER"`
	// ErrorRatio is the fraction (0..1) of valid requests answered with 503
	// or gRPC UNAVAILABLE, after any added latency.
	ErrorRatio float64 `envconfig:"ERROR_RATIO" default:"0" desc:"fraction (0..1) of valid requests answered 503 / UNAVAILABLE"`
	// StallEvery and StallFor simulate a pause such as a GC: time is cut
	// into periods of StallEvery counted from the Unix epoch (so a 1s period
	// starts on every wall-clock second), and a valid request arriving in
	// the first StallFor of a period is held until StallFor has passed.
	StallEvery time.Duration `envconfig:"STALL_EVERY" default:"0s" desc:"period of a simulated pause (like a GC), counted from the Unix epoch; 0 = off"`
	// StallFor is the length of the stall at the start of each period.
	StallFor time.Duration `envconfig:"STALL_FOR" default:"0s" desc:"length of the pause at the start of each period; requests arriving in it wait until it ends"`
	// Concurrency and ServiceTime give the service a known capacity of
	// Concurrency/ServiceTime req/s: at most Concurrency valid requests are
	// in service at once, each for ServiceTime, the rest wait in one FIFO
	// queue in order of arrival (see capacity). 0 is no limit.
	Concurrency int `envconfig:"CONCURRENCY" default:"0" desc:"most valid requests in service at once, each for SERVICE_TIME, the rest queued in order of arrival: capacity CONCURRENCY/SERVICE_TIME req/s; 0 = no limit"`
	// ServiceTime is how long each request is in service under Concurrency.
	ServiceTime time.Duration `envconfig:"SERVICE_TIME" default:"0s" desc:"time each valid request spends in service when CONCURRENCY is set"`
	// MaxBody bounds a REST request body and a gRPC request message, in bytes.
	// The default leaves room for a batch of 1024 short texts.
	MaxBody int64 `envconfig:"MAX_BODY" default:"1048576" desc:"largest REST body or gRPC message, bytes (413 / RESOURCE_EXHAUSTED beyond)"`
	// ShutdownTimeout bounds the graceful shutdown once the context ends.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"5s" desc:"bound on the graceful shutdown"`
	// TLSCert and TLSKey are PEM files of a server certificate (chain) and
	// its key: when set, REST (HTTP/1.1) and gRPC are served over TLS only.
	TLSCert string `envconfig:"TLS_CERT" desc:"PEM certificate (chain) file: serve REST (HTTP/1.1) and gRPC over TLS; empty = plaintext"`
	// TLSKey is the PEM private key file of TLSCert.
	TLSKey string `envconfig:"TLS_KEY" desc:"PEM private key file of TLS_CERT"`
	// ModelName is the one model the serving-protocol routes know (KServe
	// V1, Open Inference Protocol, TF Serving) and the endpoint ID of the
	// Vertex AI routes; another name is answered 404 / NOT_FOUND. Empty
	// means DefaultModelName.
	ModelName string `envconfig:"MODEL_NAME" default:"textcls" desc:"model name of the KServe, OIP and TF Serving routes, endpoint ID of the Vertex AI routes"`
	// ModelVersion is the model's one version, a positive integer as TF
	// Serving wants; a request naming another is answered 404 / NOT_FOUND.
	// Empty means DefaultModelVersion.
	ModelVersion string `envconfig:"MODEL_VERSION" default:"1" desc:"the model's version (a positive integer); requests may name it or none"`
	// InputName is the model's input tensor (OIP, TF Serving) and the key
	// of an instance object ({"text": "..."}). Empty means DefaultInputName.
	InputName string `envconfig:"INPUT_NAME" default:"text" desc:"name of the model's input tensor and of an instance object's field"`
	// DisableReflection leaves gRPC server reflection unregistered, as on
	// Triton, so that a client must bring its own descriptors.
	DisableReflection bool `envconfig:"DISABLE_REFLECTION" default:"false" desc:"do not register gRPC server reflection"`
}

// Defaults of the serving-protocol fields of Config, used when they are empty.
const (
	DefaultModelName    = "textcls"
	DefaultModelVersion = "1"
	DefaultInputName    = "text"
)

// withDefaults fills the empty serving-protocol fields.
func (c Config) withDefaults() Config {
	if c.ModelName == "" {
		c.ModelName = DefaultModelName
	}
	if c.ModelVersion == "" {
		c.ModelVersion = DefaultModelVersion
	}
	if c.InputName == "" {
		c.InputName = DefaultInputName
	}
	return c
}

// isToken reports whether s is a non-empty name that fits in one URL path
// segment unescaped: letters, digits, '.', '_' and '-'.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate reports every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" && c.GRPCAddr == "" {
		errs = append(errs, errors.New("HTTP_ADDR and GRPC_ADDR: at least one must be set"))
	}
	if c.Latency < 0 {
		errs = append(errs, errors.New("LATENCY: must be >= 0"))
	}
	if c.Jitter < 0 {
		errs = append(errs, errors.New("JITTER: must be >= 0"))
	}
	if !(c.ErrorRatio >= 0 && c.ErrorRatio <= 1) {
		errs = append(errs, errors.New("ERROR_RATIO: must be in [0, 1]"))
	}
	if c.StallEvery < 0 || c.StallFor < 0 {
		errs = append(errs, errors.New("STALL_EVERY, STALL_FOR: must be >= 0"))
	}
	if c.StallFor > 0 && c.StallFor >= c.StallEvery {
		errs = append(errs, errors.New("STALL_FOR: must be shorter than STALL_EVERY"))
	}
	if c.Concurrency < 0 || c.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("CONCURRENCY: must be in 0..%d", maxConcurrency))
	}
	if c.ServiceTime < 0 {
		errs = append(errs, errors.New("SERVICE_TIME: must be >= 0"))
	}
	if c.ServiceTime > 0 && c.Concurrency == 0 {
		errs = append(errs, errors.New("SERVICE_TIME: needs CONCURRENCY (use LATENCY for a delay without a capacity)"))
	}
	if c.MaxBody <= 0 || c.MaxBody > 1<<30 {
		errs = append(errs, errors.New("MAX_BODY: must be in 1..1GiB"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be > 0"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS_CERT, TLS_KEY: set both or neither"))
	}
	if c.ModelName != "" && !isToken(c.ModelName) {
		errs = append(errs, errors.New("MODEL_NAME: letters, digits, '.', '_' and '-' only"))
	}
	if v, err := strconv.ParseInt(c.ModelVersion, 10, 64); c.ModelVersion != "" && (err != nil || v <= 0 || strconv.FormatInt(v, 10) != c.ModelVersion) {
		errs = append(errs, errors.New("MODEL_VERSION: must be a positive integer"))
	}
	if c.InputName != "" && !isToken(c.InputName) {
		errs = append(errs, errors.New("INPUT_NAME: letters, digits, '.', '_' and '-' only"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("predict config: %w", err)
	}
	return nil
}
