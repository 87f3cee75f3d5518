// Command cluster runs cicada as separate processes on this machine against
// the real emulators (see internal/devenv/cluster):
//
//	go run ./cmd/cluster up     [-dir .cluster] [-lead-time 5s]   (make cluster-up)
//	go run ./cmd/cluster status [-dir .cluster]
//	go run ./cmd/cluster down   [-dir .cluster]                   (make cluster-down)
//
// up returns once every process is ready (the topics and subscriptions set
// up, the trigger and the predict service answering HTTP, the aggregator
// and each worker pulling), or fails naming each process that is not
// within the bound, with the tail of its log; they keep running until
// down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/cluster"
	"github.com/cicadaload/cicada/internal/devenv/emulator"
)

const usage = `usage: go run ./cmd/cluster up|status|down [-dir DIR] [-lead-time D]
  up      build and start the emulators, trigger, 3 workers, aggregator and predict
  status  list the cluster's processes
  down    stop every process of the cluster
  -dir    the cluster's directory (default <repo>/.cluster)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func realMain(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no command")}
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "the cluster's directory (default <repo>/.cluster)")
	lead := fs.Duration("lead-time", 5*time.Second, "the trigger's lead time before a run starts")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *dir == "" {
		root, err := emulator.RepoRoot()
		if err != nil {
			return err
		}
		*dir = filepath.Join(root, ".cluster")
	}
	switch cmd {
	case "up":
		fmt.Fprintf(out, "starting the cluster in %s (first time: builds and installs fake-gcs-server)...\n", *dir)
		c, err := cluster.Up(ctx, cluster.Options{Dir: *dir, LeadTime: *lead})
		if err != nil {
			return err
		}
		if err := printStatus(out, *dir); err != nil {
			return err
		}
		printUsage(out, c)
		return nil
	case "status":
		return printStatus(out, *dir)
	case "down":
		if err := cluster.Down(*dir); err != nil {
			return err
		}
		fmt.Fprintf(out, "cluster in %s stopped\n", *dir)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}

func printStatus(out io.Writer, dir string) error {
	st, err := cluster.Status(dir)
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintf(out, "no cluster in %s\n", dir)
		return nil
	}
	fmt.Fprintf(out, "%-12s %8s  %-8s %s\n", "process", "pid", "state", "log")
	for _, p := range st {
		state := "running"
		if !p.Alive {
			state = "gone"
		}
		fmt.Fprintf(out, "%-12s %8d  %-8s %s\n", p.Name, p.PID, state, p.Log)
	}
	return nil
}

func printUsage(out io.Writer, c *cluster.Cluster) {
	fmt.Fprintf(out, `
ready. In a shell:
  source %s
  curl -X POST --data-binary @examples/curl.yaml -H 'Content-Type: application/yaml' %s/runs
  curl %s/runs/RUN_ID                   # status
  curl %s/runs/RUN_ID/report.json       # the report, once done
  curl %s/v1/stats                      # what the predict service counted
  curl %s           # the aggregator's metrics (Prometheus text format)
The trigger takes inline texts only (data.file is refused): examples/curl.yaml
has them inline. Stop everything with: make cluster-down
`, c.EnvPath(), c.TriggerURL, c.TriggerURL, c.TriggerURL, c.PredictURL, c.MetricsURL)
}
