// Command trigger serves the trigger function locally with the functions
// framework, as Cloud Run functions would: on 127.0.0.1:$PORT (default
// 8080), configured like the function (see package trigger).
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	fntrigger "github.com/cicadaload/cicada/functions/trigger" // its init registers the function
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "trigger:", err)
		os.Exit(1)
	}
}

// realMain serves until ctx ends. The framework's server cannot be shut
// down; a request in flight then ends with the process, as it would with
// the signal's default action.
func realMain(ctx context.Context) error {
	port := cmp.Or(os.Getenv("PORT"), "8080")
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", fntrigger.EntryPoint)
	}
	errc := make(chan error, 1)
	// Loopback only: a local trigger has no authentication in front.
	go func() { errc <- funcframework.StartHostPort("127.0.0.1", port) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}
