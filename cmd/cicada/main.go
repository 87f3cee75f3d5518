// Command cicada is the user's tool: run a plan in this process, check a
// plan, and (with the pipeline) submit and follow distributed runs.
//
//	cicada run PLAN [--out DIR] [--serve-predict] [--quiet]
//	cicada validate PLAN
//
// Exit codes: 0 the run completed, 1 it failed or was cancelled, 2 bad usage
// or an invalid plan.
package main

import (
	"context"
	"errors"
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
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "cicada:", err)
	var ec cli.ExitError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return 1
}
