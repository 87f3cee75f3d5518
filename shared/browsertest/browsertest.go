// Package browsertest opens cicada's self-contained HTML pages in headless
// Chromium with the network off, for tests: a page that needs anything
// from elsewhere, or whose console reports a problem, shows it. CI
// installs Debian's chromium, and there a missing browser fails the test
// instead of skipping it.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Flags run Debian's chromium headless with every network path closed:
// names resolve nowhere and any connection goes to a closed port.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost", "--proxy-server=127.0.0.1:9",
	"--enable-logging=stderr", "--v=0", "--hide-scrollbars",
}

// Find returns chromium's path. Without it the test is skipped, except in
// CI (CI=true), where it fails; -short skips it too, since it starts a
// browser.
func Find(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium")
	}
	t.Skip("chromium is not installed (apt install chromium); CI runs this test")
	return ""
}

// Run opens file in chromium with Flags and extra ones (--dump-dom,
// --screenshot=PATH) and returns its stdout and stderr.
func Run(t testing.TB, exe, file string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(append(append([]string{}, Flags...), "--user-data-dir="+t.TempDir()), extra...)
	args = append(args, "file://"+file)
	cmd := exec.CommandContext(ctx, exe, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, errOut.String())
	}
	return out.String(), errOut.String()
}

// ConsoleProblems returns chromium's log lines that carry a console
// message or an uncaught exception: cicada's pages have no script, so any
// is a fault.
func ConsoleProblems(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			out = append(out, line)
		}
	}
	return out
}
