package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/trend"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// defaultHistory is how many runs cicada history shows: two weeks of
// nightly runs.
const defaultHistory = 14

// bucketEnv names the Cloud Storage bucket, as the binaries read it.
const bucketEnv = "CICADA_BUCKET"

// localBucket is where cicada local keeps its bucket by default.
var localBucket = filepath.Join(".cicada", "bucket")

// historyCmd is `cicada history PLAN [-n N] [--url TRIGGER | --bucket-dir
// DIR | --bucket NAME]`: the plan's last runs from the runs index, oldest
// first, with the trend of p99 and capacity. The runs come from the
// trigger (GET /plans/<name>) or straight from the bucket (index.List),
// whichever is named: a flag first, then $CICADA_TRIGGER_URL, then
// $CICADA_BUCKET, then cicada local's bucket directory when present.
func historyCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("history", flag.ContinueOnError)
	n := fset.Int("n", defaultHistory, "how many of the plan's last runs to show")
	url := fset.String("url", "", "trigger URL (default $"+triggerURLEnv+")")
	bucketDir := fset.String("bucket-dir", "", "a local bucket directory (as cicada local keeps it, default "+localBucket+" when present)")
	bucket := fset.String("bucket", "", "a Cloud Storage bucket to read the index from (default $"+bucketEnv+"; STORAGE_EMULATOR_HOST as the binaries)")
	pos, err := parsePositional(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("history: want exactly one plan name, got %d arguments", len(pos))
	}
	name := pos[0]
	if *n < 1 || *n > index.MaxLimit {
		return usageErr("history: -n %d: want 1 to %d runs", *n, index.MaxLimit)
	}
	rows, from, err := historyRows(ctx, name, *n, *url, *bucketDir, *bucket)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("plan %q has no run in the runs index of %s (a run is indexed when its report is written)", name, from)
	}
	printHistory(stdout, name, from, trend.Oldest(rows))
	return nil
}

// historyRows reads the plan's last n rows, newest first, from where the
// flags and the environment say, and names that place.
func historyRows(ctx context.Context, name string, n int, url, bucketDir, bucket string) ([]index.Row, string, error) {
	if url == "" && bucketDir == "" && bucket == "" {
		url = os.Getenv(triggerURLEnv)
		if url == "" {
			bucket = os.Getenv(bucketEnv)
		}
		if url == "" && bucket == "" {
			if fi, err := os.Stat(localBucket); err == nil && fi.IsDir() {
				bucketDir = localBucket
			}
		}
	}
	switch {
	case bucketDir != "":
		st, err := store.NewDisk(bucketDir)
		if err != nil {
			return nil, "", err
		}
		rows, err := bucketHistory(ctx, st, name, n)
		return rows, bucketDir, err
	case bucket != "":
		client, err := store.NewClientFromEnv(ctx)
		if err != nil {
			return nil, "", err
		}
		defer client.Close()
		rows, err := bucketHistory(ctx, store.NewGCS(client, bucket), name, n)
		return rows, "gs://" + bucket, err
	case url != "":
		c := triggerapi.New(url)
		h, err := c.PlanHistory(ctx, name, n)
		if triggerapi.IsNotFound(err) {
			return nil, c.URL(), nil
		}
		if err != nil {
			return nil, "", err
		}
		rows, err := indexRows(h.Runs)
		return rows, c.URL(), err
	}
	return nil, "", usageErr("history: no trigger and no bucket: give --url, --bucket or --bucket-dir, or set %s or %s", triggerURLEnv, bucketEnv)
}

func bucketHistory(ctx context.Context, st store.Store, name string, n int) ([]index.Row, error) {
	rows, _, err := index.List(ctx, st, index.Query{Plan: name, Limit: n})
	if err != nil {
		return nil, fmt.Errorf("history of plan %q: %w", name, err)
	}
	return rows, nil
}

// indexRows reads the trigger's rows as the index's: they are its JSON.
func indexRows(in []triggerapi.RunRow) ([]index.Row, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("runs from the trigger: %w", err)
	}
	var out []index.Row
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("runs from the trigger: %w", err)
	}
	return out, nil
}

// printHistory prints rows (oldest first) as a table, the trend of p99
// and capacity, and why the failed runs failed.
func printHistory(w io.Writer, name, from string, rows []index.Row) {
	fmt.Fprintf(w, "plan %s: last %d run(s), oldest first (from %s)\n\n", name, len(rows), from)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "date (UTC)\trun\tverdict\treq/s\tp50 ms\tp99 ms\terrors\taccuracy\tcapacity")
	var failed []index.Row
	p99 := make([]float64, len(rows))
	capacity := make([]float64, len(rows))
	for i, r := range rows {
		p99[i], capacity[i] = r.P99MS, trend.Capacity(r)
		verdict := r.Verdict
		if verdict == "" {
			verdict = "-"
		}
		if trend.Failed(r) {
			failed = append(failed, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Start.UTC().Format("2006-01-02 15:04"), r.RunID, verdict,
			fixed(r.AchievedRate, 1), fixed(r.P50MS, 2), fixed(r.P99MS, 2), fixed(100*r.ErrorRate, 2)+"%",
			pctOrDash(trend.Accuracy(r)), fixedOrDash(trend.Capacity(r), 1))
	}
	_ = tw.Flush() // the writer is the command's output; its errors show there
	fmt.Fprintln(w)
	fmt.Fprintf(w, "p99       %s  %s\n", trend.Sparkline(p99), changeText(p99))
	if slicesHaveValue(capacity) {
		fmt.Fprintf(w, "capacity  %s  %s\n", trend.Sparkline(capacity), changeText(capacity))
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n%d of %d run(s) did not pass:\n", len(failed), len(rows))
		for _, r := range failed {
			why := strings.Join(r.Reasons, "; ")
			if why == "" {
				why = "status " + r.Status
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", r.RunID, r.Verdict, why)
		}
	}
}

// changeText is the first-to-last change of vals, or why there is none.
func changeText(vals []float64) string {
	pct, ok := trend.Change(vals)
	if !ok {
		return "(too few runs for a trend)"
	}
	return fmt.Sprintf("%+.1f%% first to last", pct)
}

func slicesHaveValue(vals []float64) bool {
	for _, v := range vals {
		if !math.IsNaN(v) {
			return true
		}
	}
	return false
}

func fixed(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func fixedOrDash(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fixed(v, prec)
}

func pctOrDash(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fixed(100*v, 2) + "%"
}
