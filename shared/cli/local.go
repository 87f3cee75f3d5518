package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/cicadaload/cicada/shared/logging"
	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/trigger"
	"github.com/cicadaload/cicada/shared/worker"
)

// localCmd runs plans through the whole pipeline in this process: trigger,
// workers and aggregator over in-process Pub/Sub and Cloud Storage. Each
// plan is submitted through the trigger's HTTP endpoint, as a user would.
func localCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	workers := fs.Int("workers", 2, "worker count")
	capacity := fs.Int("capacity", 2, "shards each worker drives at once")
	servePredict := fs.Bool("serve-predict", false, "also serve the sample predict service (CICADA_PREDICT_* addresses)")
	out := fs.String("out", "out", "directory for the runs' report files (<out>/<run-id>/, <out>/latest)")
	verbose := fs.Bool("verbose", false, "log the pipeline's components to stderr")
	bucket := fs.String("bucket", filepath.Join(".cicada", "bucket"), "directory of the local bucket (kept after the run; cicada aggregate --bucket-dir reads it)")
	secretHeaders := secretHeaderFlag(fs)
	protoset := protosetFlag(fs)
	paths, err := parseMany(fs, args)
	if err != nil {
		return err
	}
	extraSecrets := secretHeaders()
	log := zap.NewNop()
	if *verbose {
		// To the command's stderr, redacted as every line of the binaries.
		if log, err = logging.NewWriter(stderr, true, "info"); err != nil {
			return err
		}
	}
	var penv predict.Env
	if *servePredict {
		if penv, err = predict.ReadEnv(); err != nil {
			return err
		}
	}
	tenv, err := trigger.ReadEnv()
	if err != nil {
		return err
	}
	tcfg := tenv.Trigger
	if os.Getenv("CICADA_TRIGGER_LEAD_TIME") == "" {
		tcfg.LeadTime = 2 * time.Second // nothing to wait for on one machine
	}
	if os.Getenv("CICADA_TRIGGER_LITERAL_SECRETS") == "" {
		// As cicada run: the bucket is a directory of this machine, and
		// everything shown is redacted all the same.
		tcfg.LiteralSecrets = true
	}
	tcfg.SecretHeaders = append(tcfg.SecretHeaders, extraSecrets...)
	// The pipeline outlives a Ctrl-C long enough to cancel the run and
	// write its report.
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	e, stop, err := pipeline.StartEmbedded(pctx, pipeline.Options{
		Workers: *workers, Worker: worker.Config{Capacity: *capacity}, Trigger: tcfg, ServePredict: *servePredict, Predict: penv.Predict, Log: log,
		BucketDir: *bucket,
	})
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "cicada local: trigger %s, %d workers × %d shards, in-process Pub/Sub, bucket in %s\n", e.TriggerURL, *workers, *capacity, *bucket)

	c := newClient(e.TriggerURL)
	var failed error
	for _, path := range paths {
		if ctx.Err() != nil {
			break
		}
		if err := runOne(ctx, c, path, *protoset, putCorpus(e.Store), *out, stdout); err != nil {
			if len(paths) > 1 {
				fmt.Fprintln(stderr, "cicada:", err)
			}
			failed = err
		}
	}
	return failed
}

// runOne submits one plan, follows it, and downloads its report.
func runOne(ctx context.Context, c *client, path, protoset string, put corpusPutter, out string, stdout io.Writer) error {
	body, p, err := submitBody(ctx, path, protoset, put)
	if err != nil {
		return err
	}
	acc, err := c.Submit(context.WithoutCancel(ctx), body, "application/json", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run %s: plan %q, %s, %d shard(s), starts %s, status %s\n",
		acc.RunID, p.Name, p.Duration(), p.Shards, acc.StartAt.Format(time.TimeOnly), acc.StatusURL)
	if acc.Note != "" {
		fmt.Fprintf(stdout, "note: %s\n", acc.Note)
	}
	st, err := c.follow(ctx, acc, p, stdout)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, acc.RunID)
	rep, err := c.download(context.WithoutCancel(ctx), acc.RunID, dir)
	if err != nil {
		return err
	}
	linkLatest(out, acc.RunID)
	printSummary(stdout, rep)
	if rep.Coverage != nil && len(rep.Coverage.Missing) > 0 {
		fmt.Fprintf(stdout, "coverage  %d of %d shard slices, missing %v\n", rep.Coverage.Received, rep.Coverage.Expected, rep.Coverage.Missing)
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "report.json"))
	if err := verdictExit(rep); err != nil {
		return fmt.Errorf("%w (phase %s)", err, st.Phase)
	}
	return nil
}

// linkLatest points <out>/latest at the run's directory, replacing it
// atomically.
func linkLatest(out, id string) {
	tmp := filepath.Join(out, ".latest-"+id)
	if err := os.Symlink(id, tmp); err == nil {
		if err := os.Rename(tmp, filepath.Join(out, "latest")); err != nil {
			os.Remove(tmp)
		}
	}
}

// parseMany parses flags around one or more positional plan files.
func parseMany(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) == 0 {
		return nil, usageErr("%s: want at least one plan file", fs.Name())
	}
	return pos, nil
}
