package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Scenario names, as printed.
const (
	scHTTPMax    = "http max"
	scHTTPRate   = "http rate"
	scGRPCMax    = "grpc max"
	scHTTPSMax   = "https max"       // HTTP/1.1 over TLS
	scGRPCTLSMax = "grpc tls max"    // gRPC over TLS
	scOIPGRPCMax = "oip_v2 grpc max" // the Open Inference Protocol's ModelInfer, from a descriptor without reflection
)

// overTLS reports whether the scenario runs against the TLS target.
func overTLS(scenario string) bool { return scenario == scHTTPSMax || scenario == scGRPCTLSMax }

// job is one generator run: which tool, and how to invoke and read it.
type job struct {
	Tool, Scenario, Variant string
	// build prepares inputs in dir and returns the invocation.
	build func(e *env, dir string) (invocation, error)
	parse parser
}

// invocation is how to run a tool. collect, when set, turns the finished
// run's stdout into the report that parse reads (by default stdout itself).
type invocation struct {
	args    []string
	env     []string
	collect func(ctx context.Context, stdout []byte) ([]byte, error)
}

// row is a job's outcome: Status is "ok", "unavailable: …" or "failed: …".
type row struct {
	job
	Status string
	Res    result
	CPU    time.Duration // generator user+sys
}

// usPerRequest is the generator CPU per completed request in µs, or 0.
func (r row) usPerRequest() float64 {
	if r.Status != "ok" || r.Res.Requests == 0 {
		return 0
	}
	return float64(r.CPU) / float64(time.Microsecond) / float64(r.Res.Requests)
}

// selectJobs lists the runs in table order, keeping those matching cfg.filter.
func selectJobs(cfg config) []job {
	all := []job{
		{Tool: "wrk", Scenario: scHTTPMax, build: wrkMax(false), parse: parseWrk},
		{Tool: "h2load", Scenario: scHTTPMax, build: h2loadRun(false), parse: parseH2load},
		{Tool: "vegeta", Scenario: scHTTPMax, build: vegetaRun(false), parse: parseVegeta},
		{Tool: "hey", Scenario: scHTTPMax, build: heyRun(false), parse: parseHey},
		{Tool: "cicada", Scenario: scHTTPMax, build: cicadaHTTP(false, ""), parse: parseCicada},
		// Under taskset -c 1 the Go runtime already defaults to GOMAXPROCS=1
		// (it reads the affinity mask); this row shows the cost of 2.
		{Tool: "cicada", Scenario: scHTTPMax, Variant: "GOMAXPROCS=2", build: cicadaHTTP(false, "2"), parse: parseCicada},
		// Every answer's label checked (target.check): the cost of a check.
		{Tool: "cicada", Scenario: scHTTPMax, Variant: "check", build: cicadaHTTPCheck, parse: parseCicada},
		{Tool: "h2load", Scenario: scHTTPRate, build: h2loadRun(true), parse: parseH2load},
		{Tool: "vegeta", Scenario: scHTTPRate, build: vegetaRun(true), parse: parseVegeta},
		{Tool: "hey", Scenario: scHTTPRate, build: heyRun(true), parse: parseHey},
		{Tool: "cicada", Scenario: scHTTPRate, build: cicadaHTTP(true, ""), parse: parseCicada},
		{Tool: "ghz", Scenario: scGRPCMax, build: ghzMax(false), parse: parseGhz},
		{Tool: "cicada", Scenario: scGRPCMax, Variant: "conns=1", build: cicadaGRPC(1, false), parse: parseCicada},
		{Tool: "cicada", Scenario: scGRPCMax, Variant: "conns=4", build: cicadaGRPC(4, false), parse: parseCicada},
		// A model serving protocol's method, known from a descriptor: ghz
		// reads it from a protoset file, cicada from its built-in copy of
		// the same compiled descriptor (the oip_v2 preset).
		{Tool: "ghz", Scenario: scOIPGRPCMax, build: ghzOIP, parse: parseGhz},
		{Tool: "cicada", Scenario: scOIPGRPCMax, Variant: "conns=1", build: cicadaOIP(1), parse: parseCicada},
		{Tool: "cicada", Scenario: scOIPGRPCMax, Variant: "conns=4", build: cicadaOIP(4), parse: parseCicada},
		// The same against the predict service over TLS: wrk speaks
		// HTTP/1.1 over OpenSSL, cicada over net/http and crypto/tls.
		{Tool: "wrk", Scenario: scHTTPSMax, build: wrkMax(true), parse: parseWrk},
		{Tool: "cicada", Scenario: scHTTPSMax, build: cicadaHTTPS, parse: parseCicada},
		{Tool: "ghz", Scenario: scGRPCTLSMax, build: ghzMax(true), parse: parseGhz},
		{Tool: "cicada", Scenario: scGRPCTLSMax, Variant: "conns=1", build: cicadaGRPC(1, true), parse: parseCicada},
		{Tool: "cicada", Scenario: scGRPCTLSMax, Variant: "conns=4", build: cicadaGRPC(4, true), parse: parseCicada},
	}
	var jobs []job
	for _, j := range all {
		if cfg.filter.MatchString(j.Tool + " " + j.Scenario + " " + j.Variant) {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// runJob runs one job pinned to the generator CPU and reads its result.
func runJob(ctx context.Context, e *env, j job) row {
	r := row{job: j}
	t := e.tools[j.Tool]
	if t.Path == "" {
		r.Status = "unavailable: " + t.Missing
		return r
	}
	dir, err := os.MkdirTemp(e.work, strings.Join(strings.Fields(j.Tool+" "+j.Scenario+" "+j.Variant), "-")+"-")
	if err != nil {
		r.Status = "failed: " + err.Error()
		return r
	}
	inv, err := j.build(e, dir)
	if err != nil {
		r.Status = "failed: " + err.Error()
		return r
	}
	// Generous bound: tools finish in-flight requests and write reports.
	runCtx, cancel := context.WithTimeout(ctx, e.cfg.duration+time.Minute)
	defer cancel()
	stdout, cpu, err := runPinned(runCtx, dir, t.Path, inv)
	if err == nil && inv.collect != nil {
		stdout, err = inv.collect(ctx, stdout)
	}
	if err == nil {
		r.Res, err = j.parse(stdout)
	}
	if err != nil {
		r.Status = "failed: " + err.Error()
		return r
	}
	r.Status, r.CPU = "ok", cpu
	return r
}

// runPinned runs exe in dir on generatorCPU through taskset, which execs it,
// so the rusage of the process we wait for is the tool's own (user+sys,
// including all its threads and any children it waited for). Its stdout and
// stderr are also saved in dir for -keep.
func runPinned(ctx context.Context, dir, exe string, inv invocation) ([]byte, time.Duration, error) {
	argv := append([]string{"-c", generatorCPU, exe}, inv.args...)
	cmd := exec.CommandContext(ctx, "taskset", argv...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), inv.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	// Best effort: the copies are for reading after a -keep run.
	_ = os.WriteFile(filepath.Join(dir, "stdout.txt"), stdout.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "stderr.txt"), stderr.Bytes(), 0o644)
	if ctx.Err() != nil {
		return nil, 0, fmt.Errorf("stopped: %w", ctx.Err())
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w: %s", filepath.Base(exe), err, lastLines(append(stdout.Bytes(), stderr.Bytes()...), 3))
	}
	ps := cmd.ProcessState
	return stdout.Bytes(), ps.UserTime() + ps.SystemTime(), nil
}

// wrkMax runs wrk on one thread; over TLS it trusts any certificate, as
// wrk does not verify.
func wrkMax(tls bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, _ string) (invocation, error) {
		url := e.httpURL
		if tls {
			url = e.httpsURL
		}
		return invocation{args: []string{
			"-t1", fmt.Sprintf("-c%d", e.cfg.connections), "-d" + durationSeconds(e.cfg.duration) + "s",
			"--latency", "-s", e.luaFile, url,
		}}, nil
	}
}

// h2loadRun speaks HTTP/1.1 (the predict REST server has no h2c); at a fixed
// rate --rps is per client, so the total is split over the connections.
func h2loadRun(paced bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, _ string) (invocation, error) {
		args := []string{"--h1", "-t1", fmt.Sprintf("-c%d", e.cfg.connections),
			"-D", durationSeconds(e.cfg.duration), "-d", e.bodyFile,
			"-H", "content-type: application/json"}
		if paced {
			args = append(args, "--rps", perConnRate(e))
		}
		return invocation{args: append(args, e.httpURL)}, nil
	}
}

// vegetaRun writes results to a file and reads them with `vegeta report`
// afterwards, outside the measured process.
func vegetaRun(paced bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, dir string) (invocation, error) {
		targets := filepath.Join(dir, "targets.txt")
		spec := fmt.Sprintf("POST %s\nContent-Type: application/json\n@%s\n", e.httpURL, e.bodyFile)
		if err := os.WriteFile(targets, []byte(spec), 0o644); err != nil {
			return invocation{}, fmt.Errorf("write vegeta targets: %w", err)
		}
		results := filepath.Join(dir, "results.bin")
		rate := "0" // as fast as the workers go
		if paced {
			rate = fmt.Sprint(e.cfg.rate)
		}
		conns := fmt.Sprint(e.cfg.connections)
		exe := e.tools["vegeta"].Path
		return invocation{
			args: []string{"attack", "-targets=" + targets, "-rate=" + rate,
				"-workers=" + conns, "-max-workers=" + conns,
				"-duration=" + e.cfg.duration.String(), "-output=" + results},
			collect: func(ctx context.Context, _ []byte) ([]byte, error) {
				return quietRun(ctx, dir, nil, exe, "report", "-type=json", results)
			},
		}, nil
	}
}

// heyRun paces with -q, a per-worker rate like h2load's --rps.
func heyRun(paced bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, _ string) (invocation, error) {
		args := []string{"-z", e.cfg.duration.String(), "-c", fmt.Sprint(e.cfg.connections),
			"-m", "POST", "-T", "application/json", "-D", e.bodyFile}
		if paced {
			args = append(args, "-q", perConnRate(e))
		}
		return invocation{args: append(args, e.httpURL)}, nil
	}
}

// ghzMax uses ghz's defaults (one connection) with GOMAXPROCS 1 (--cpus 1),
// and its summary output (see parseGhz); over TLS it verifies the target
// with the benchmark's CA (--cacert).
func ghzMax(tls bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, _ string) (invocation, error) {
		security, addr := []string{"--insecure"}, e.grpcAddr
		if tls {
			security, addr = []string{"--cacert", e.caFile}, e.grpcTLSAddr
		}
		return invocation{args: append(security,
			"--proto", filepath.Join(e.root, "proto", "cicada", "v1", "predict.proto"),
			"--call", "cicada.v1.Predictor/Predict", "-d", e.body,
			"-c", fmt.Sprint(e.cfg.connections), "-z", e.cfg.duration.String(), "--cpus", "1",
			addr,
		)}, nil
	}
}

// ghzOIP calls the Open Inference Protocol's ModelInfer with one text,
// its types from the protoset writeInputs wrote (no reflection).
func ghzOIP(e *env, _ string) (invocation, error) {
	return invocation{args: []string{"--insecure",
		"--protoset", e.oipProtoset,
		"--call", "inference.GRPCInferenceService/ModelInfer", "-d", e.oipBody,
		"-c", fmt.Sprint(e.cfg.connections), "-z", e.cfg.duration.String(), "--cpus", "1",
		e.grpcAddr,
	}}, nil
}

// cicadaOIP runs the closed-model oip_v2 preset plan over conns channels.
func cicadaOIP(conns int) func(e *env, dir string) (invocation, error) {
	return func(e *env, dir string) (invocation, error) {
		return cicadaPlan(e, dir, "grpc-oip-closed.yaml.tmpl", planData{Address: e.grpcAddr, Users: e.cfg.connections, Connections: conns, Model: oipModel})
	}
}

// cicadaHTTP runs a closed-model (max rate) or open-model (paced) HTTP plan.
func cicadaHTTP(paced bool, gomaxprocs string) func(e *env, dir string) (invocation, error) {
	return func(e *env, dir string) (invocation, error) {
		tmpl := "http-closed.yaml.tmpl"
		data := planData{URL: e.httpURL, Users: e.cfg.connections}
		if paced {
			tmpl = "http-open.yaml.tmpl"
			data = planData{URL: e.httpURL, Rate: e.cfg.rate}
		}
		inv, err := cicadaPlan(e, dir, tmpl, data)
		if gomaxprocs != "" {
			inv.env = append(inv.env, "GOMAXPROCS="+gomaxprocs)
		}
		return inv, err
	}
}

// cicadaHTTPCheck runs the closed-model HTTP plan with a check of every
// answer's label against the classifier's own (writeInputs' labeled
// texts), so that the row beside plain "http max" is the cost of a check.
func cicadaHTTPCheck(e *env, dir string) (invocation, error) {
	return cicadaPlan(e, dir, "http-closed.yaml.tmpl", planData{URL: e.httpURL, Users: e.cfg.connections, Check: true, DataFile: e.labeledFile})
}

// cicadaHTTPS runs the closed-model HTTP plan against the TLS target,
// trusting the benchmark's CA (target.tls.ca).
func cicadaHTTPS(e *env, dir string) (invocation, error) {
	return cicadaPlan(e, dir, "http-closed.yaml.tmpl", planData{URL: e.httpsURL, Users: e.cfg.connections, CA: e.caPEM})
}

// cicadaGRPC runs a closed-model gRPC plan over conns channels, over TLS
// trusting the benchmark's CA when tls is set.
func cicadaGRPC(conns int, tls bool) func(e *env, dir string) (invocation, error) {
	return func(e *env, dir string) (invocation, error) {
		data := planData{Address: e.grpcAddr, Users: e.cfg.connections, Connections: conns}
		if tls {
			data.Address, data.CA = e.grpcTLSAddr, e.caPEM
		}
		return cicadaPlan(e, dir, "grpc-closed.yaml.tmpl", data)
	}
}

// cicadaPlan renders bench/plans/tmpl into dir and runs `cicada run` on it;
// the report is dir/out/report.json.
func cicadaPlan(e *env, dir, tmpl string, data planData) (invocation, error) {
	data.Duration = e.cfg.duration.String()
	data.Texts = texts
	if data.Connections == 0 {
		data.Connections = e.cfg.connections
	}
	plan := filepath.Join(dir, strings.TrimSuffix(tmpl, ".tmpl"))
	if err := renderTemplate(filepath.Join(e.root, "bench", "plans", tmpl), plan, data); err != nil {
		return invocation{}, err
	}
	out := filepath.Join(dir, "out")
	return invocation{
		args: []string{"run", plan, "--out", out},
		collect: func(context.Context, []byte) ([]byte, error) {
			b, err := os.ReadFile(filepath.Join(out, "report.json"))
			if err != nil {
				return nil, fmt.Errorf("read cicada report: %w", err)
			}
			return b, nil
		},
	}, nil
}

// perConnRate is the fixed rate split evenly over the connections.
func perConnRate(e *env) string {
	return fmt.Sprintf("%g", float64(e.cfg.rate)/float64(e.cfg.connections))
}
