// Command cicada is the user's tool: run a plan in this process, check a
// plan, and (with the pipeline) submit and follow distributed runs.
//
//	cicada run PLAN [--out DIR] [--serve-predict] [--quiet]
//	cicada validate PLAN
//
// Exit codes (README "Thresholds and verdict"): 0 pass, 1 fail (a threshold,
// a regression, an abort), 2 bad usage or an invalid plan, 3 incomplete
// (cancelled, gaps, a saturated generator), 4 an error: the run could not
// run or finish.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cicadaload/cicada/shared/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "cicada:", err)
	}
	return cli.Code(err)
}
