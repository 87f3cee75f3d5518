package emulator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FakeGCSModule is the fake-gcs-server release InstallFakeGCS installs; the
// same version as the fakestorage package in go.mod, so that the process and
// the in-process stand-in behave alike.
const FakeGCSModule = "github.com/fsouza/fake-gcs-server@v1.56.1"

// fakeGCSBinary is the program's name on PATH and in <repo>/.bin.
const fakeGCSBinary = "fake-gcs-server"

// startTimeout bounds StartFakeGCS when its context has no deadline.
const startTimeout = 30 * time.Second

// StartFakeGCS starts fake-gcs-server as a process of its own, serving plain
// HTTP on 127.0.0.1 at a free port with an in-memory backend, and returns
// once it answers its health check. Its log goes to
// dir/fake-gcs-server.log (discarded when dir is ""). The program is taken
// from PATH, else from the repository's .bin/, where it is installed with
// InstallFakeGCS when missing. p.Host is the value for
// STORAGE_EMULATOR_HOST. The caller calls p.Stop.
func StartFakeGCS(ctx context.Context, dir string) (*Proc, error) {
	bin, err := fakeGCSPath()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := ""
	if dir != "" {
		logPath = filepath.Join(dir, fakeGCSBinary+".log")
	}
	args := []string{
		"-scheme", "http",
		"-host", "127.0.0.1",
		"-port", strconv.Itoa(port),
		"-backend", "memory",
		// Resumable uploads are continued at the URL the server hands out.
		"-external-url", "http://" + addr,
		// XML API reads (the client's default) are served on this host.
		"-public-host", addr,
		"-log-level", "warn",
	}
	p, err := startProc(bin, args, nil, logPath)
	if err != nil {
		return nil, fmt.Errorf("fake-gcs-server: %w", err)
	}
	p.Addr = addr
	p.Host = "http://" + addr
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	if err := waitHealthy(ctx, p, "http://"+addr+"/_internal/healthcheck"); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("fake-gcs-server on %s (log %s): %w", addr, logPath, err)
	}
	return p, nil
}

// waitHealthy polls url until it answers 200, the process exits, or ctx
// ends.
func waitHealthy(ctx context.Context, p *Proc, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("health check answered %s", resp.Status)
		}
		last = err
		select {
		case <-p.Exited():
			return fmt.Errorf("exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fakeGCSPath finds the program: PATH, then <repo>/.bin, then installs it
// there.
func fakeGCSPath() (string, error) {
	if p, err := exec.LookPath(fakeGCSBinary); err == nil {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH and %w", fakeGCSBinary, err)
	}
	return InstallFakeGCS(root)
}

// InstallFakeGCS returns the path of repoRoot/.bin/fake-gcs-server,
// installing FakeGCSModule there with `go install` (GOBIN=repoRoot/.bin)
// when it is missing. It needs the go command and the module proxy (or the
// module cache) the first time only.
func InstallFakeGCS(repoRoot string) (string, error) {
	binDir := filepath.Join(repoRoot, ".bin")
	bin := filepath.Join(binDir, fakeGCSBinary)
	if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
		return bin, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("install %s: %w", FakeGCSModule, err)
	}
	cmd := exec.Command(goCmd, "install", FakeGCSModule)
	// A module@version install ignores the repository's go.mod; GOFLAGS
	// such as -mod=vendor would only break it.
	cmd.Env = append(os.Environ(), "GOBIN="+binDir, "GOFLAGS=")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w: %s", FakeGCSModule, err, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("go install %s: %w", FakeGCSModule, err)
	}
	return bin, nil
}

// RepoRoot is the nearest directory at or above the working directory
// that holds a go.mod: the repository's root when run from inside it
// (tests run in their package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find the repository root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
