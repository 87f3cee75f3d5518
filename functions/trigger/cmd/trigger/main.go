// Command trigger serves the trigger function locally with the functions
// framework, as Cloud Run functions would: on 127.0.0.1:$PORT (default
// 8080), configured like the function (see package trigger).
package main

import (
	"fmt"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/cicadaload/cicada/functions/trigger" // registers the function
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", "Trigger")
	}
	// Loopback only: a local trigger has no authentication in front.
	if err := funcframework.StartHostPort("127.0.0.1", port); err != nil {
		fmt.Fprintln(os.Stderr, "trigger:", err)
		os.Exit(1)
	}
}
