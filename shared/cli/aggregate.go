package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
)

// aggregateCmd rebuilds a run's report from the bucket alone, as the
// aggregator would: the same bytes, whoever runs it.
func aggregateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("aggregate", flag.ContinueOnError)
	final := fs.Bool("final", false, "write the final report now, even if shards may still write")
	grace := fs.Duration("grace", 30*time.Second, "how long after the end (or a cancel) stragglers may still write")
	id, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := runid.Valid(id); err != nil {
		return usageErr("aggregate: %v", err)
	}
	var cloud config.Cloud
	if err := config.Read(&cloud); err != nil {
		return err
	}
	st, _, closeAll, err := pipeline.Connect(ctx, cloud)
	if err != nil {
		return err
	}
	defer closeAll()
	rep, isFinal, err := aggregate.Once(ctx, st, id, time.Now(), *grace, *final)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report.FormatSummary(rep))
	if isFinal {
		fmt.Fprintf(stdout, "wrote gs://%s/runs/%s/report.json\n", cloud.Bucket, id)
	} else {
		fmt.Fprintf(stdout, "run still going: wrote gs://%s/runs/%s/live.json\n", cloud.Bucket, id)
	}
	return nil
}
