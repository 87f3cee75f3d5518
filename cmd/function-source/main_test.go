package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// isolatedEnv is the environment of a go command run inside the generated
// folder: no workspace, no vendor, modules from the cache or the proxy, and
// nothing of the trigger's configuration leaking in from the caller.
func isolatedEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CICADA_") || k == "GOFLAGS" || k == "GOWORK" ||
			k == "STORAGE_EMULATOR_HOST" || k == "PUBSUB_EMULATOR_HOST" || k == "FUNCTION_TARGET" || k == "PORT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"GOWORK=off", "GOFLAGS=-mod=mod"}, extra...)...)
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

// TestGenerateBuildsAlone writes the function source into a temporary folder,
// far from the repository, and builds, vets and serves it there the way the
// Cloud Functions Go buildpack does: a generated main that blank-imports the
// module's root package, `go mod tidy`, and FUNCTION_TARGET naming the entry
// point.
func TestGenerateBuildsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from scratch")
	}
	ctx := context.Background()
	root := repoRoot(t)
	out := filepath.Join(t.TempDir(), "function")
	n, err := generate(ctx, root, defaultPackage, out)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if n < 4 {
		t.Fatalf("generate wrote %d files, want go.mod, go.sum, function.go and the trigger at least", n)
	}

	// The layout the buildpack expects: a module root with the repository's
	// module path, a package at the root, and no local replace.
	for _, f := range []string{"go.mod", "go.sum", "function.go", "functions/trigger/trigger.go"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	modPath, err := checkGoMod(filepath.Join(out, "go.mod"))
	if err != nil {
		t.Fatalf("generated go.mod: %v", err)
	}
	if got, want := modPath, "github.com/cicadaload/cicada"; got != want {
		t.Errorf("module path = %q, want %q", got, want)
	}
	err = filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(path, "_test.go") {
			t.Errorf("test file copied: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	env := isolatedEnv()
	run(t, out, env, "go", "build", "./...")
	run(t, out, env, "go", "vet", "./...")

	// The buildpack's main, in the module like the buildpack puts it.
	app := filepath.Join(out, "functions.local", "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	main := `package main

import (
	"fmt"
	"os"

	_ "` + modPath + `"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	// The buildpack listens on every interface; a test stays on loopback.
	if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`
	if err := os.WriteFile(filepath.Join(app, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, out, env, "go", "mod", "tidy")
	bin := filepath.Join(t.TempDir(), "fn")
	run(t, out, env, "go", "build", "-o", bin, "./functions.local/app")

	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = isolatedEnv("FUNCTION_TARGET=Trigger", "PORT="+port)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Without CICADA_TRIGGER_BUCKET the registered function answers 500
	// naming it: proof that "Trigger" is the function served at /, reached
	// without touching any cloud.
	code, body := getWithin(t, "http://127.0.0.1:"+port+"/runs/x", 20*time.Second)
	if code != http.StatusInternalServerError || !strings.Contains(body, "CICADA_TRIGGER_BUCKET") {
		t.Fatalf("GET = %d %q, want 500 naming CICADA_TRIGGER_BUCKET; logs:\n%s", code, body, logs.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func getWithin(t *testing.T, url string, within time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				t.Fatal(rerr)
			}
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within %v: %v", url, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCheckGoMod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		gomod   string
		wantErr string // empty: no error
	}{
		{"plain module", "module example.com/m\n\ngo 1.26\n", ""},
		{"replace by a module version", "module example.com/m\n\ngo 1.26\n\nreplace example.com/a => example.com/b v1.0.0\n", ""},
		// The upload carries only the folder: ../.. is gone on the builder.
		{"replace by a parent folder", "module example.com/m\n\ngo 1.26\n\nreplace example.com/a => ../..\n", "local folder"},
		{"replace by a child folder", "module example.com/m\n\ngo 1.26\n\nreplace example.com/a => ./a\n", "local folder"},
		{"no module line", "go 1.26\n", "no module line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "go.mod")
			if err := os.WriteFile(path, []byte(tt.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := checkGoMod(path)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("checkGoMod: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("checkGoMod: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPrepareOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string) string // returns the out folder
		wantErr string
	}{
		{"new folder", func(t *testing.T, root string) string { return filepath.Join(root, "dist", "function") }, ""},
		{"empty folder", func(t *testing.T, root string) string {
			d := filepath.Join(root, "empty")
			mkdir(t, d)
			return d
		}, ""},
		{"folder written before", func(t *testing.T, root string) string {
			d := filepath.Join(root, "old")
			mkdir(t, d)
			write(t, filepath.Join(d, markerFile))
			write(t, filepath.Join(d, "stale.go"))
			return d
		}, ""},
		// A typo in FUNCTION_SOURCE_DIR must not delete someone's files.
		{"foreign folder", func(t *testing.T, root string) string {
			d := filepath.Join(root, "mine")
			mkdir(t, d)
			write(t, filepath.Join(d, "notes.txt"))
			return d
		}, "not written by function-source"},
		{"module root", func(t *testing.T, root string) string { return root }, "module root"},
		{"parent of the module root", func(t *testing.T, root string) string { return filepath.Dir(root) }, "module root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "repo")
			mkdir(t, root)
			write(t, filepath.Join(root, "go.mod"))
			out := tt.setup(t, root)
			err := prepareOut(root, out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("prepareOut: %v, want an error containing %q", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
					t.Fatalf("the module was touched: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("prepareOut: %v", err)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Fatalf("out has %d entries after prepareOut, want an empty folder", len(entries))
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
