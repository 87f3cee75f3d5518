package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// toolSpec says how to get one generator. Exactly one of Apt, Go and Build is set.
type toolSpec struct {
	Name  string
	Apt   string // Debian package that provides Name on PATH
	Go    string // module path of the main package for go install
	Ver   string // version for go install (known good, see go-partial.tsv)
	Build string // package of this repository, built with go build
}

// toolSpecs are the generators. Versions are pinned so that reruns are
// comparable and a reinstall is only done when a pin changes.
var toolSpecs = []toolSpec{
	{Name: "wrk", Apt: "wrk"},
	{Name: "h2load", Apt: "nghttp2-client"},
	{Name: "vegeta", Go: "github.com/tsenart/vegeta/v12", Ver: "v12.13.0"},
	{Name: "hey", Go: "github.com/rakyll/hey", Ver: "v0.1.5"},
	{Name: "ghz", Go: "github.com/bojand/ghz/cmd/ghz", Ver: "v0.93.0"},
	{Name: "cicada", Build: "./cmd/cicada"},
}

// tool is an installed generator (Path) or why it is not (Missing).
type tool struct {
	Path    string
	Missing string
}

// ensureTools installs what is missing and reports every tool's state. A tool
// that cannot be had is recorded, not fatal: its rows print "unavailable".
func ensureTools(ctx context.Context, root, bin string) map[string]tool {
	tools := make(map[string]tool, len(toolSpecs))
	for _, s := range toolSpecs {
		var path string
		var err error
		switch {
		case s.Apt != "":
			path, err = ensureApt(ctx, s)
		case s.Go != "":
			path, err = ensureGo(ctx, s, root, bin)
		default:
			path, err = buildLocal(ctx, root, filepath.Join(bin, s.Name), s.Build)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %s unavailable: %v\n", s.Name, err)
			tools[s.Name] = tool{Missing: err.Error()}
			continue
		}
		tools[s.Name] = tool{Path: path}
	}
	return tools
}

// ensureApt finds s.Name on PATH or installs its Debian package (as root).
func ensureApt(ctx context.Context, s toolSpec) (string, error) {
	if p, err := exec.LookPath(s.Name); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("not on PATH and no apt-get to install %s", s.Apt)
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("not on PATH; install it with: sudo apt-get install %s", s.Apt)
	}
	fmt.Fprintf(os.Stderr, "loadbench: installing %s (apt %s)\n", s.Name, s.Apt)
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	install := []string{"apt-get", "install", "-y", "-qq", "--no-install-recommends", s.Apt}
	if _, err := quietRun(ctx, "", env, install...); err != nil {
		// A fresh machine has no package lists yet: update once and retry.
		if _, uerr := quietRun(ctx, "", env, "apt-get", "update", "-qq"); uerr != nil {
			return "", fmt.Errorf("apt-get update: %w", uerr)
		}
		if _, err := quietRun(ctx, "", env, install...); err != nil {
			return "", fmt.Errorf("apt-get install %s: %w", s.Apt, err)
		}
	}
	return exec.LookPath(s.Name)
}

// ensureGo installs s into bin with go install unless the binary there was
// already built from the pinned version.
func ensureGo(ctx context.Context, s toolSpec, root, bin string) (string, error) {
	path := filepath.Join(bin, s.Name)
	if info, err := buildinfo.ReadFile(path); err == nil && info.Main.Version == s.Ver {
		return path, nil
	}
	fmt.Fprintf(os.Stderr, "loadbench: installing %s %s (go install)\n", s.Name, s.Ver)
	// GOFLAGS=-mod=mod keeps a GOFLAGS=-mod=vendor from the caller out of a
	// module-mode install that does not use this repository's go.mod.
	env := []string{"GOBIN=" + bin, "GOFLAGS=-mod=mod"}
	if _, err := quietRun(ctx, root, env, "go", "install", s.Go+"@"+s.Ver); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w", s.Go, s.Ver, err)
	}
	return path, nil
}

// buildLocal builds a main package of this repository to out.
func buildLocal(ctx context.Context, root, out, pkg string) (string, error) {
	if _, err := quietRun(ctx, root, nil, "go", "build", "-o", out, pkg); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return out, nil
}

// quietRun runs a command with extra environment, returning its combined
// output; on failure the error carries the output's last lines.
func quietRun(ctx context.Context, dir string, env []string, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, lastLines(out, 3))
	}
	return out, nil
}

// lastLines returns up to n last non-empty lines of out joined by " | ".
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(out, nil))), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "no output"
	}
	return s
}
