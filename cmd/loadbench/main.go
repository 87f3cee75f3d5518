// Command loadbench measures load generators side by side against the
// project's predict service: wrk, h2load, vegeta, hey, ghz and cicada itself.
// It installs missing tools into .bin/, pins the target to CPU 0 and each
// generator to CPU 1, and prints one table of requests, req/s, generator CPU
// per request (user+sys ÷ completed requests) and p50/p99, then the speed
// goals (docs/engine.md). The TLS scenarios (https max, grpc tls max) run
// against a second predict service serving TLS with a certificate of a CA
// made up for the run. Run it from the repository: go run ./cmd/loadbench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

// config holds the command-line settings.
type config struct {
	duration    time.Duration
	connections int
	rate        int
	filter      *regexp.Regexp
	keep        bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	var cfg config
	var filter string
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each run (whole seconds)")
	fs.IntVar(&cfg.connections, "connections", 50, "connections (and users) per generator")
	fs.IntVar(&cfg.rate, "rate", 2000, "request rate of the fixed-rate scenario, req/s")
	fs.StringVar(&filter, "run", "", "only runs whose \"tool scenario variant\" matches this regexp")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory (plans, outputs, target log)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// wrk, h2load and ghz take whole seconds.
	if cfg.duration < time.Second || cfg.duration%time.Second != 0 {
		return cfg, fmt.Errorf("-duration must be whole seconds >= 1s, got %v", cfg.duration)
	}
	if cfg.connections < 1 || cfg.rate < 1 {
		return cfg, errors.New("-connections and -rate must be >= 1")
	}
	re, err := regexp.Compile(filter)
	if err != nil {
		return cfg, fmt.Errorf("-run: %w", err)
	}
	cfg.filter = re
	return cfg, nil
}
