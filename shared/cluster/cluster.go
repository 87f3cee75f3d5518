// Package cluster runs cicada as separate processes on one machine, against
// the real emulators: the Pub/Sub emulator of the Google Cloud CLI,
// fake-gcs-server, the trigger, several workers, the aggregator and the
// sample predict service, each a process of its own that outlives the
// command that started it (`make cluster-up`), and that Down stops by
// its PID file (`make cluster-down`). The end-to-end tests use it to kill
// a worker in mid-run.
//
// A cluster lives in a directory (default <repo>/.cluster): <name>.pid for
// each process, logs/<name>.log, and env, the variables a shell needs to
// talk to it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/cicadaload/cicada/shared/emulator"
	"github.com/cicadaload/cicada/shared/store"
)

// Process names: the base names of the PID and log files.
const (
	NamePubSub     = "pubsub"
	NameGCS        = "gcs"
	NameTrigger    = "trigger"
	NameAggregator = "aggregator"
	NamePredict    = "predict"
)

// WorkerName is the name of worker i (1-based), also its CICADA_WORKER_ID:
// the writer of its slices and the holder of its leases.
func WorkerName(i int) string { return "worker-" + strconv.Itoa(i) }

// ErrEmulator wraps every failure to find or start an emulator, so that
// tests can skip locally where the Google Cloud CLI is missing
// (emulator.Require) and fail on anything else.
var ErrEmulator = errors.New("emulator unavailable")

// Ports are the TCP ports of a cluster, all on 127.0.0.1.
type Ports struct {
	PubSub      int
	GCS         int
	Trigger     int
	PredictHTTP int
	PredictGRPC int
}

// DefaultPorts are the ports of `make cluster-up`.
func DefaultPorts() Ports {
	return Ports{PubSub: 8085, GCS: 4443, Trigger: 8080, PredictHTTP: 8501, PredictGRPC: 8500}
}

// FreePorts returns five distinct ports of 127.0.0.1 that were free a
// moment ago, for tests.
func FreePorts() (Ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var p [5]int
	for i := range p {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Ports{}, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		p[i] = l.Addr().(*net.TCPAddr).Port
	}
	return Ports{PubSub: p[0], GCS: p[1], Trigger: p[2], PredictHTTP: p[3], PredictGRPC: p[4]}, nil
}

func (p Ports) list() []int { return []int{p.PubSub, p.GCS, p.Trigger, p.PredictHTTP, p.PredictGRPC} }

// Options configure a cluster. Zero durations leave the binary's own
// default (see `cicada env`), except LeadTime.
type Options struct {
	// Dir holds PID files, logs and env; default <repo>/.cluster.
	Dir string
	// Root is the repository, where binaries are built (<Root>/.bin);
	// default the one around the working directory.
	Root string
	// Ports default to DefaultPorts when zero.
	Ports Ports
	// Project and Bucket default to cicada-local and cicada-runs.
	Project, Bucket string
	// Workers is the number of worker processes, default 3, each driving
	// up to WorkerCapacity shards (default 2).
	Workers        int
	WorkerCapacity int

	LeadTime    time.Duration // trigger: default 5s
	LeaseTTL    time.Duration // worker
	RenewEvery  time.Duration // worker
	AckExtend   time.Duration // worker
	Sweep       time.Duration // aggregator
	Republish   time.Duration // aggregator
	Grace       time.Duration // aggregator
	PickupGrace time.Duration // aggregator
	LiveEvery   time.Duration // aggregator

	// Env is added to every component's environment (not the emulators'),
	// after the cluster's own variables, e.g. CICADA_PREDICT_LATENCY=5ms.
	Env []string
	// ReadyTimeout bounds the wait for each stage to be ready; default 90s
	// (the first build of the binaries and fake-gcs-server takes a while).
	ReadyTimeout time.Duration
}

// Cluster is a running cluster.
type Cluster struct {
	Dir     string
	Ports   Ports
	Project string
	Bucket  string
	// PubSubHost and StorageHost are the values of PUBSUB_EMULATOR_HOST and
	// STORAGE_EMULATOR_HOST.
	PubSubHost, StorageHost string
	// TriggerURL is http://127.0.0.1:<port>; PredictURL the predict
	// service's REST base URL and PredictGRPC its gRPC address.
	TriggerURL, PredictURL, PredictGRPC string
	// Workers are the workers' names (worker-1, ...).
	Workers []string

	mu    sync.Mutex
	procs map[string]*proc // started by this process
}

// buildPackages are the binaries a cluster runs.
var buildPackages = []string{"./jobs/worker", "./jobs/aggregator", "./jobs/predict", "./functions/trigger/cmd/trigger"}

// Up builds the binaries, starts the emulators, creates the bucket, topics
// and subscriptions (through the aggregator, started first with
// CICADA_SETUP=true), then the trigger, the workers and the predict
// service, each as a process of its own, and returns once all are ready.
// When a step fails, it stops what it started. The processes outlive the
// caller; stop them with Down(c.Dir).
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Root == "" {
		if o.Root, err = emulator.RepoRoot(); err != nil {
			return nil, fmt.Errorf("cluster up: %w", err)
		}
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(o.Root, ".cluster")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster up: %w", err)
	}
	o = withDefaults(o)

	running, err := Status(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range running {
		if p.Alive {
			return nil, fmt.Errorf("cluster up: %s (pid %d) of a cluster in %s is still running: stop it first (make cluster-down)", p.Name, p.PID, dir)
		}
	}
	for _, port := range o.Ports.list() {
		if err := portFree(port); err != nil {
			return nil, fmt.Errorf("cluster up: %w", err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "pubsub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cluster up: %w", err)
		}
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return nil, fmt.Errorf("cluster up: %w: %w", ErrEmulator, err)
	}
	fakeGCS, err := exec.LookPath("fake-gcs-server")
	if err != nil {
		if fakeGCS, err = emulator.InstallFakeGCS(o.Root); err != nil {
			return nil, fmt.Errorf("cluster up: %w: %w", ErrEmulator, err)
		}
	}
	bin := filepath.Join(o.Root, ".bin")
	if err := build(ctx, o.Root, bin); err != nil {
		return nil, err
	}

	c = &Cluster{
		Dir: dir, Ports: o.Ports, Project: o.Project, Bucket: o.Bucket,
		PubSubHost:  addr(o.Ports.PubSub),
		StorageHost: "http://" + addr(o.Ports.GCS),
		TriggerURL:  "http://" + addr(o.Ports.Trigger),
		PredictURL:  "http://" + addr(o.Ports.PredictHTTP),
		PredictGRPC: addr(o.Ports.PredictGRPC),
		procs:       map[string]*proc{},
	}
	for i := range o.Workers {
		c.Workers = append(c.Workers, WorkerName(i+1))
	}
	defer func() {
		if err != nil {
			if derr := Down(dir); derr != nil {
				err = fmt.Errorf("%w; then: %v", err, derr)
			}
			c = nil
		}
	}()

	marker := MarkerEnv + "=" + dir
	// Emulators: both at once, the Java one takes seconds.
	err = c.stage(ctx, o.ReadyTimeout, ErrEmulator,
		spec{name: NamePubSub, bin: gcloud, args: []string{
			"beta", "emulators", "pubsub", "start",
			"--host-port=" + c.PubSubHost,
			"--project=" + o.Project,
			"--data-dir=" + filepath.Join(dir, "pubsub"),
			"--quiet",
		}, env: []string{marker, "CLOUDSDK_CORE_DISABLE_PROMPTS=1"}, ready: tcpReady(c.PubSubHost)},
		spec{name: NameGCS, bin: fakeGCS, args: []string{
			"-scheme", "http",
			"-host", "127.0.0.1",
			"-port", strconv.Itoa(o.Ports.GCS),
			"-backend", "memory",
			// Resumable uploads are continued at the URL the server hands
			// out; XML API reads are served on the public host.
			"-external-url", c.StorageHost,
			"-public-host", addr(o.Ports.GCS),
			"-log-level", "warn",
		}, env: []string{marker}, ready: httpReady(c.StorageHost+"/_internal/healthcheck", http.StatusOK)},
	)
	if err != nil {
		return nil, err
	}

	common := []string{
		marker,
		"PUBSUB_EMULATOR_HOST=" + c.PubSubHost,
		"STORAGE_EMULATOR_HOST=" + c.StorageHost,
		"CICADA_PROJECT=" + o.Project,
		"CICADA_BUCKET=" + o.Bucket,
		"CICADA_SETUP=false",
		"CICADA_LOG_CONSOLE=true",
	}
	env := func(extra ...string) []string {
		e := append(append(append([]string{}, common...), extra...), o.Env...)
		return append(e, marker) // nobody overrides the marker
	}

	// The aggregator creates the bucket, topics and subscriptions (with
	// dead letter and retry policies) before it says it is ready, and so
	// before any worker pulls.
	err = c.stage(ctx, o.ReadyTimeout, nil, spec{
		name: NameAggregator, bin: filepath.Join(bin, "aggregator"),
		env: env(append([]string{"CICADA_SETUP=true"},
			durEnv("CICADA_AGGREGATOR_SWEEP", o.Sweep),
			durEnv("CICADA_AGGREGATOR_REPUBLISH", o.Republish),
			durEnv("CICADA_AGGREGATOR_GRACE", o.Grace),
			durEnv("CICADA_AGGREGATOR_PICKUP_GRACE", o.PickupGrace),
			durEnv("CICADA_AGGREGATOR_LIVE_EVERY", o.LiveEvery))...),
		ready: logReady("aggregator ready"),
	})
	if err != nil {
		return nil, err
	}

	specs := []spec{
		{
			name: NameTrigger, bin: filepath.Join(bin, "trigger"),
			env: env("PORT="+strconv.Itoa(o.Ports.Trigger),
				"FUNCTION_TARGET=Trigger",
				"CICADA_TRIGGER_PROJECT="+o.Project,
				"CICADA_TRIGGER_BUCKET="+o.Bucket,
				"CICADA_TRIGGER_ALLOWED_TARGETS=127.0.0.1",
				durEnv("CICADA_TRIGGER_LEAD_TIME", o.LeadTime)),
			// A well-formed id that cannot exist: 404 JSON once the handler
			// reached the bucket.
			ready: httpReady(c.TriggerURL+"/runs/20000101-000000-000000", http.StatusNotFound),
		},
		{
			name: NamePredict, bin: filepath.Join(bin, "predict"),
			env: env("CICADA_PREDICT_HTTP_ADDR="+addr(o.Ports.PredictHTTP),
				"CICADA_PREDICT_GRPC_ADDR="+c.PredictGRPC),
			ready: httpReady(c.PredictURL+"/healthz", http.StatusOK),
		},
	}
	for _, w := range c.Workers {
		specs = append(specs, spec{
			name: w, bin: filepath.Join(bin, "worker"),
			env: env("CICADA_WORKER_ID="+w,
				"CICADA_WORKER_CAPACITY="+strconv.Itoa(o.WorkerCapacity),
				durEnv("CICADA_WORKER_LEASE_TTL", o.LeaseTTL),
				durEnv("CICADA_WORKER_RENEW_EVERY", o.RenewEvery),
				durEnv("CICADA_WORKER_ACK_EXTEND", o.AckExtend)),
			ready: logReady("worker ready"),
		})
	}
	if err := c.stage(ctx, o.ReadyTimeout, nil, specs...); err != nil {
		return nil, err
	}
	if err := c.writeEnv(); err != nil {
		return nil, err
	}
	return c, nil
}

func withDefaults(o Options) Options {
	if o.Ports == (Ports{}) {
		o.Ports = DefaultPorts()
	}
	if o.Project == "" {
		o.Project = emulator.PubSubProject
	}
	if o.Bucket == "" {
		o.Bucket = "cicada-runs"
	}
	if o.Workers <= 0 {
		o.Workers = 3
	}
	if o.WorkerCapacity <= 0 {
		o.WorkerCapacity = 2
	}
	if o.LeadTime <= 0 {
		o.LeadTime = 5 * time.Second
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	return o
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// durEnv is KEY=d, or an empty entry (ignored by exec) to keep the
// binary's default when d is zero.
func durEnv(key string, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return key + "=" + d.String()
}

// portFree fails when port is taken on 127.0.0.1: another cluster, or a
// leftover process, would otherwise answer in place of ours.
func portFree(port int) error {
	l, err := net.Listen("tcp", addr(port))
	if err != nil {
		return fmt.Errorf("port %d is not free: %w", port, err)
	}
	return l.Close()
}

// build compiles the cluster's binaries into bin.
func build(ctx context.Context, root, bin string) error {
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	args := append([]string{"build", "-o", bin + string(os.PathSeparator)}, buildPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", strings.Join(buildPackages, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// spec is one process to start.
type spec struct {
	name  string
	bin   string
	args  []string
	env   []string
	ready func(ctx context.Context, logPath string) error
}

// stage starts specs at once and waits until each is ready, within
// timeout; a failure is wrapped with kind when not nil.
func (c *Cluster) stage(ctx context.Context, timeout time.Duration, kind error, specs ...spec) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, len(specs))
	for _, s := range specs {
		logPath := filepath.Join(c.Dir, "logs", s.name+".log")
		var env []string
		for _, e := range s.env {
			if e != "" {
				env = append(env, e)
			}
		}
		p, err := start(s.name, s.bin, s.args, env, c.Dir, logPath, filepath.Join(c.Dir, s.name+".pid"))
		if err != nil {
			return wrapKind(kind, err)
		}
		c.mu.Lock()
		c.procs[s.name] = p
		c.mu.Unlock()
		go func() { errc <- waitReady(ctx, p, logPath, s.ready) }()
	}
	var errs []error
	for range specs {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return wrapKind(kind, errors.Join(errs...))
	}
	return nil
}

func wrapKind(kind, err error) error {
	if kind == nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	return fmt.Errorf("cluster up: %w: %w", kind, err)
}

// waitReady polls ready until it succeeds, the process exits, or ctx ends.
func waitReady(ctx context.Context, p *proc, logPath string, ready func(context.Context, string) error) error {
	var last error
	for {
		if last = ready(ctx, logPath); last == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready: see %s:\n%s", p.name, logPath, tail(logPath, 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v); see %s:\n%s", p.name, ctx.Err(), last, logPath, tail(logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a log, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tcpReady(address string) func(context.Context, string) error {
	return func(ctx context.Context, _ string) error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := d.DialContext(dctx, "tcp", address)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

func httpReady(url string, status int) func(context.Context, string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context, _ string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("GET %s: %s, want %d", url, resp.Status, status)
		}
		return nil
	}
}

// logReady waits for line in the process's log: a component says it is
// ready once it has connected to the emulators.
func logReady(line string) func(context.Context, string) error {
	return func(_ context.Context, logPath string) error {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), line) {
			return fmt.Errorf("no %q in the log yet", line)
		}
		return nil
	}
}

// EnvPath is the file of the variables a shell needs to use the cluster.
func (c *Cluster) EnvPath() string { return filepath.Join(c.Dir, "env") }

// writeEnv writes EnvPath, for `source .cluster/env`.
func (c *Cluster) writeEnv() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# cicada cluster in %s: source this file to use it.\n", c.Dir)
	for _, kv := range [][2]string{
		{"PUBSUB_EMULATOR_HOST", c.PubSubHost},
		{"STORAGE_EMULATOR_HOST", c.StorageHost},
		{"CICADA_PROJECT", c.Project},
		{"CICADA_BUCKET", c.Bucket},
		{"CICADA_TRIGGER_URL", c.TriggerURL},
		{"CICADA_PREDICT_URL", c.PredictURL},
		{"CICADA_PREDICT_GRPC", c.PredictGRPC},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], kv[1])
	}
	if err := os.WriteFile(c.EnvPath(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("cluster up: write env: %w", err)
	}
	return nil
}

// Names are the cluster's processes, in start order.
func (c *Cluster) Names() []string {
	return append([]string{NamePubSub, NameGCS, NameAggregator, NameTrigger, NamePredict}, c.Workers...)
}

// PID is the process id of name, from its PID file.
func (c *Cluster) PID(name string) (int, error) {
	return readPID(filepath.Join(c.Dir, name+".pid"))
}

// LogPath is the log file of name.
func (c *Cluster) LogPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

// Kill9 kills process name with SIGKILL, its whole process group, as a
// crashed pod would die, and returns once it is gone.
func (c *Cluster) Kill9(name string) error { return c.signal(name, syscall.SIGKILL, 5*time.Second) }

// Terminate sends SIGTERM to name, as Kubernetes does to a pod it stops,
// and returns once it has exited or within is over.
func (c *Cluster) Terminate(name string, within time.Duration) error {
	return c.signal(name, syscall.SIGTERM, within)
}

func (c *Cluster) signal(name string, sig syscall.Signal, within time.Duration) error {
	pid, err := c.PID(name)
	if err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
	}
	if ours(pid, c.Dir) == nil {
		return fmt.Errorf("signal %s: pid %d is not running", name, pid)
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", name, pid, err)
	}
	deadline := time.Now().Add(within)
	for len(groupMembers(pid)) > 0 {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("signal %s (pid %d): still running after %v", name, pid, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Alive reports whether process name is running.
func (c *Cluster) Alive(name string) bool {
	pid, err := c.PID(name)
	return err == nil && ours(pid, c.Dir) != nil
}

// OpenStore opens the cluster's bucket on its fake-gcs-server, for tests
// that read what the workers wrote. The caller calls closeFn.
func (c *Cluster) OpenStore(ctx context.Context) (st *store.GCS, closeFn func(), err error) {
	client, err := storage.NewClient(ctx,
		option.WithEndpoint(c.StorageHost+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads())
	if err != nil {
		return nil, nil, fmt.Errorf("storage client for %s: %w", c.StorageHost, err)
	}
	return store.NewGCS(client, c.Bucket), func() { client.Close() }, nil
}
