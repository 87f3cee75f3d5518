package emulator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FakeGCSModule is the fake-gcs-server release InstallFakeGCS installs; the
// same version as the fakestorage package in go.mod, so that the process and
// the in-process stand-in behave alike.
const FakeGCSModule = "github.com/fsouza/fake-gcs-server@v1.56.1"

// fakeGCSBinary is the program's name on PATH and in <repo>/.bin.
const fakeGCSBinary = "fake-gcs-server"

// GcloudPath finds the Google Cloud CLI, which runs the Pub/Sub emulator.
func GcloudPath() (string, error) { return exec.LookPath("gcloud") }

// FakeGCSPath finds fake-gcs-server: on PATH, else in repoRoot/.bin,
// where InstallFakeGCS installs it when missing. An empty repoRoot is
// RepoRoot().
func FakeGCSPath(repoRoot string) (string, error) {
	if p, err := exec.LookPath(fakeGCSBinary); err == nil {
		return p, nil
	}
	if repoRoot == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", fmt.Errorf("%s is not on PATH and %w", fakeGCSBinary, err)
		}
		repoRoot = root
	}
	return InstallFakeGCS(repoRoot)
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
