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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/cicadaload/cicada/internal/devenv/emulator"
	"github.com/cicadaload/cicada/internal/devenv/proc"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/pipeline"
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
	// AggregatorMetrics serves the aggregator's /metrics.
	AggregatorMetrics int
}

// DefaultPorts are the ports of `make cluster-up`.
func DefaultPorts() Ports {
	return Ports{PubSub: 8085, GCS: 4443, Trigger: 8080, PredictHTTP: 8501, PredictGRPC: 8500, AggregatorMetrics: 9090}
}

// FreePorts returns six distinct ports of 127.0.0.1 that were free a
// moment ago, for tests.
func FreePorts() (Ports, error) {
	p, err := proc.FreePorts(6)
	if err != nil {
		return Ports{}, err
	}
	return Ports{PubSub: p[0], GCS: p[1], Trigger: p[2], PredictHTTP: p[3], PredictGRPC: p[4], AggregatorMetrics: p[5]}, nil
}

func (p Ports) list() []int {
	return []int{p.PubSub, p.GCS, p.Trigger, p.PredictHTTP, p.PredictGRPC, p.AggregatorMetrics}
}

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
	// service's REST base URL and PredictGRPC its gRPC address;
	// MetricsURL the aggregator's /metrics.
	TriggerURL, PredictURL, PredictGRPC, MetricsURL string
	// Workers are the workers' names (worker-1, ...).
	Workers []string

	readyTimeout time.Duration

	mu    sync.Mutex
	procs map[string]*proc.Proc // started by this process
	specs map[string]spec       // how each was started, for Restart
}

// buildPackages are the binaries a cluster runs.
var buildPackages = []string{"./jobs/worker", "./jobs/aggregator", "./jobs/predict", "./functions/trigger/cmd/trigger"}

// Up builds the binaries, starts the emulators, creates the bucket, topics
// and subscriptions (through the aggregator, started first with
// CICADA_SETUP=true), then the trigger, the workers and the predict
// service, each as a process of its own, and returns once all are ready:
//
//   - the emulators answer;
//   - the topics and subscriptions exist (asked of the emulator's admin
//     API) and the aggregator has started pulling;
//   - the trigger and the predict service answer HTTP;
//   - each worker has started pulling.
//
// A component has started pulling once it logged
// pipeline.PullingMessage (the Pub/Sub emulator first answered one of its
// Pulls), in this start's part of its log. Each stage is bounded by
// Options.ReadyTimeout; the error names every process not ready, with the
// tail of its log. When a step fails, Up stops what it started. The
// processes outlive the caller; stop them with Down(c.Dir).
//
// The aggregator and the trigger run with CICADA_SETUP=true: after a
// restart of the Pub/Sub emulator (Restart), which loses every topic and
// subscription, they set them up again as soon as they find one missing;
// the workers, like those on Google Cloud, have no such right and wait.
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
	gcloud, err := emulator.GcloudPath()
	if err != nil {
		return nil, fmt.Errorf("cluster up: %w: %w", ErrEmulator, err)
	}
	fakeGCS, err := emulator.FakeGCSPath(o.Root)
	if err != nil {
		return nil, fmt.Errorf("cluster up: %w: %w", ErrEmulator, err)
	}
	bin := filepath.Join(o.Root, ".bin")
	if err := build(ctx, o.Root, bin); err != nil {
		return nil, err
	}

	c = &Cluster{
		Dir: dir, Ports: o.Ports, Project: o.Project, Bucket: o.Bucket,
		PubSubHost:   addr(o.Ports.PubSub),
		StorageHost:  emulator.FakeGCSHost(o.Ports.GCS),
		TriggerURL:   "http://" + addr(o.Ports.Trigger),
		PredictURL:   "http://" + addr(o.Ports.PredictHTTP),
		PredictGRPC:  addr(o.Ports.PredictGRPC),
		MetricsURL:   "http://" + addr(o.Ports.AggregatorMetrics) + "/metrics",
		readyTimeout: o.ReadyTimeout,
		procs:        map[string]*proc.Proc{},
		specs:        map[string]spec{},
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

	// Emulators: both at once, the Java one takes seconds.
	err = c.stage(ctx, o.ReadyTimeout, ErrEmulator,
		spec{name: NamePubSub, Spec: emulator.PubSubSpec(gcloud, c.PubSubHost, filepath.Join(dir, "pubsub"), o.Project),
			ready: emulator.PubSubReady(c.PubSubHost)},
		spec{name: NameGCS, Spec: emulator.FakeGCSSpec(fakeGCS, o.Ports.GCS), ready: emulator.FakeGCSReady(c.StorageHost)},
	)
	if err != nil {
		return nil, err
	}

	common := []string{
		"PUBSUB_EMULATOR_HOST=" + c.PubSubHost,
		"STORAGE_EMULATOR_HOST=" + c.StorageHost,
		"CICADA_PROJECT=" + o.Project,
		"CICADA_BUCKET=" + o.Bucket,
		"CICADA_SETUP=false",
		"CICADA_LOG_CONSOLE=true",
	}
	// component is the binary of .bin/ with the cluster's variables, then
	// extra, then Options.Env.
	component := func(name, binary string, ready proc.Check, extra ...string) spec {
		var env []string
		for _, kv := range slices.Concat(common, extra, o.Env) {
			if kv != "" { // durEnv's "keep the default"
				env = append(env, kv)
			}
		}
		return spec{name: name, Spec: proc.Spec{Path: filepath.Join(bin, binary), Env: env}, ready: ready}
	}
	// puller is a component that is ready once it has started pulling.
	puller := func(name, binary string, ready proc.Check, extra ...string) spec {
		s := component(name, binary, ready, extra...)
		s.line = pipeline.PullingMessage(binary)
		return s
	}
	admin, err := bus.NewPubSub(ctx, o.Project, bus.EmulatorOptions(c.PubSubHost)...)
	if err != nil {
		return nil, fmt.Errorf("cluster up: %w", err)
	}
	defer admin.Close()

	// The aggregator creates the bucket, topics and subscriptions (with
	// dead letter and retry policies) before it pulls, and so before any
	// worker pulls.
	err = c.stage(ctx, o.ReadyTimeout, nil, puller(NameAggregator, "aggregator", topologyReady(admin),
		"CICADA_SETUP=true",
		"CICADA_AGGREGATOR_METRICS_ADDR="+addr(o.Ports.AggregatorMetrics),
		durEnv("CICADA_AGGREGATOR_SWEEP", o.Sweep),
		durEnv("CICADA_AGGREGATOR_REPUBLISH", o.Republish),
		durEnv("CICADA_AGGREGATOR_GRACE", o.Grace),
		durEnv("CICADA_AGGREGATOR_PICKUP_GRACE", o.PickupGrace),
		durEnv("CICADA_AGGREGATOR_LIVE_EVERY", o.LiveEvery)))
	if err != nil {
		return nil, err
	}

	// Plans may aim at 127.0.0.1, but not at the cluster's own services:
	// the trigger and the emulators (the bucket, Pub/Sub) listen there too.
	allowed := fmt.Sprintf("127.0.0.1,!%s,!%s,!%s", addr(o.Ports.Trigger), addr(o.Ports.GCS), addr(o.Ports.PubSub))
	specs := []spec{
		// Ready on a well-formed id that cannot exist: 404 JSON once the
		// handler reached the bucket.
		component(NameTrigger, "trigger", proc.HTTPReady(c.TriggerURL+"/runs/20000101-000000-000000", http.StatusNotFound),
			"CICADA_SETUP=true",
			"PORT="+strconv.Itoa(o.Ports.Trigger),
			"FUNCTION_TARGET=Trigger",
			"CICADA_TRIGGER_PROJECT="+o.Project,
			"CICADA_TRIGGER_BUCKET="+o.Bucket,
			"CICADA_TRIGGER_ALLOWED_TARGETS="+allowed,
			durEnv("CICADA_TRIGGER_LEAD_TIME", o.LeadTime)),
		component(NamePredict, "predict", proc.HTTPReady(c.PredictURL+"/healthz", http.StatusOK),
			"CICADA_PREDICT_HTTP_ADDR="+addr(o.Ports.PredictHTTP),
			"CICADA_PREDICT_GRPC_ADDR="+c.PredictGRPC),
	}
	for _, w := range c.Workers {
		specs = append(specs, puller(w, "worker", nil,
			"CICADA_WORKER_ID="+w,
			"CICADA_WORKER_ALLOWED_TARGETS="+allowed,
			"CICADA_WORKER_CAPACITY="+strconv.Itoa(o.WorkerCapacity),
			durEnv("CICADA_WORKER_LEASE_TTL", o.LeaseTTL),
			durEnv("CICADA_WORKER_RENEW_EVERY", o.RenewEvery),
			durEnv("CICADA_WORKER_ACK_EXTEND", o.AckExtend)))
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

// durEnv is KEY=d, or an empty entry (dropped) to keep the binary's
// default when d is zero.
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

// spec is one process to start: its command line (Spec; Dir and LogPath
// are the cluster's) and when it is ready: ready passes (when not nil)
// and line (when not "") is in what it logged since this start.
type spec struct {
	name string
	proc.Spec
	ready proc.Check
	line  string
}

// stage starts specs at once and waits until each is ready, within
// timeout; a failure is wrapped with kind when not nil.
func (c *Cluster) stage(ctx context.Context, timeout time.Duration, kind error, specs ...spec) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, len(specs))
	for _, s := range specs {
		s.Dir, s.LogPath = c.Dir, c.LogPath(s.name)
		ready := allReady(s.ready, logReady(s.LogPath, s.line))
		p, err := start(c.Dir, s.name, s.Spec)
		if err != nil {
			return wrapKind(kind, err)
		}
		c.mu.Lock()
		c.procs[s.name] = p
		c.specs[s.name] = s
		c.mu.Unlock()
		go func() {
			if err := p.WaitReady(ctx, ready); err != nil {
				errc <- fmt.Errorf("%s: %w; see %s:\n%s", s.name, err, s.LogPath, tail(s.LogPath, 20))
				return
			}
			errc <- nil
		}()
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

// allReady is ready once every check that is not nil is.
func allReady(checks ...proc.Check) proc.Check {
	return func(ctx context.Context) error {
		for _, c := range checks {
			if c == nil {
				continue
			}
			if err := c(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// logReady is ready once line is in the log at logPath, past what it
// held when logReady was called: the log is appended to across starts,
// and an earlier start's line must not count. nil when line is "".
func logReady(logPath, line string) proc.Check {
	if line == "" {
		return nil
	}
	var from int64
	if fi, err := os.Stat(logPath); err == nil {
		from = fi.Size()
	}
	return func(context.Context) error {
		f, err := os.Open(logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(io.NewSectionReader(f, from, 1<<40))
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), line) {
			return fmt.Errorf("no %q in the log yet", line)
		}
		return nil
	}
}

// topologyReady is ready once every topic and subscription of bus.Setup
// exists in admin's project.
func topologyReady(admin *bus.PubSub) proc.Check {
	return func(ctx context.Context) error {
		missing, err := bus.Missing(ctx, admin)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("Pub/Sub lacks %s", strings.Join(missing, ", "))
		}
		return nil
	}
}

// restartAttempts bounds Restart's starts while the port of the process
// just stopped is not yet free.
const restartAttempts = 5

// Restart stops process name, its whole process group, and starts it
// again with the same command line and environment (the same port), as a
// crashed or redeployed process comes back; it returns once the process
// is ready again by the checks Up used, within Options.ReadyTimeout. The
// Pub/Sub emulator comes back empty: the components with CICADA_SETUP set
// its topics and subscriptions up again when they find them missing. Only
// a process this Cluster value started can be restarted.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	c.mu.Lock()
	s, ok := c.specs[name]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("restart %s: not started by this cluster", name)
	}
	pid, err := c.PID(name)
	if err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if err := stopGroups(c.Dir, []int{pid}, stopGrace); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	for attempt := 1; ; attempt++ {
		err = c.stage(ctx, c.readyTimeout, nil, s)
		if err == nil || !errors.Is(err, proc.ErrExited) || attempt == restartAttempts || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	return nil
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
		{"CICADA_AGGREGATOR_METRICS_URL", c.MetricsURL},
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
	return readPID(pidPath(c.Dir, name))
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
	if err := proc.Signal(pid, sig, within); err != nil {
		return fmt.Errorf("signal %s: %w", name, err)
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
