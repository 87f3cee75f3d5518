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
	"github.com/cicadaload/cicada/shared/redact"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// aggregateCmd rebuilds a run's report from the bucket alone, as the
// aggregator would: the same bytes, whoever runs it.
func aggregateCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("aggregate", flag.ContinueOnError)
	final := fs.Bool("final", false, "write the final report now, even if shards may still write")
	grace := fs.Duration("grace", 30*time.Second, "how long after the end (or a cancel) stragglers may still write")
	bucketDir := fs.String("bucket-dir", "", "a local bucket directory (as cicada local keeps it) instead of Cloud Storage")
	secretHeaders := secretHeaderFlag(fs)
	id, err := parse(fs, args)
	if err != nil {
		return err
	}
	// As the aggregator (CICADA_SECRET_HEADERS): the same report.html.
	secretHeaders()
	var red redact.Config
	if err := config.Read(&red); err != nil {
		return err
	}
	red.Apply()
	if err := runid.Valid(id); err != nil {
		return usageErr("aggregate: %v", err)
	}
	var st store.Store
	where := ""
	if *bucketDir != "" {
		if st, err = store.NewDisk(*bucketDir); err != nil {
			return err
		}
		where = *bucketDir + "/"
	} else {
		var cloud config.Cloud
		if err := config.Read(&cloud); err != nil {
			return err
		}
		var closeAll func()
		if st, _, closeAll, err = pipeline.Connect(ctx, cloud); err != nil {
			return err
		}
		defer closeAll()
		where = "gs://" + cloud.Bucket + "/"
	}
	rep, isFinal, err := aggregate.Once(ctx, st, id, time.Now(), *grace, *final)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report.FormatSummary(rep))
	if isFinal {
		fmt.Fprintf(stdout, "wrote %s%s\n", where, runs.ReportPath(id, report.FileJSON))
	} else {
		fmt.Fprintf(stdout, "run still going: wrote %s%s\n", where, runs.LivePath(id))
	}
	return nil
}
