// Package emulator holds the command lines of the real stand-ins of Google
// Cloud that the development environment runs as processes of their own:
// the Pub/Sub emulator that ships with the Google Cloud CLI, and
// fake-gcs-server. Tests start them with StartPubSub and StartFakeGCS;
// `make cluster-up` (package cluster) starts them from PubSubSpec and
// FakeGCSSpec. Each is bound to 127.0.0.1, and stopped by its process
// group, so that the Pub/Sub emulator's Java process goes too.
//
// Tests call them through Require, which skips the test when the program
// is missing, except in CI (CI=true), where a missing emulator is a
// failure.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/proc"
	"github.com/cicadaload/cicada/shared/bus"
)

// PubSubProject is the project the Pub/Sub emulator is started for. The
// emulator serves any project a client names; this one is that of local
// runs, and the components' default (CICADA_PROJECT).
const PubSubProject = bus.LocalProject

// stopGrace is how long Stop lets an emulator shut down after SIGTERM
// before it sends SIGKILL.
const stopGrace = 10 * time.Second

// startAttempts is how often a start tries a new port when the emulator
// exits before it answers: the free port it picked may have been taken in
// between.
const startAttempts = 3

// PubSubSpec is the Pub/Sub emulator's command line: gcloud serving
// addr (host:port) for project, with its data in dataDir, which must
// exist.
func PubSubSpec(gcloud, addr, dataDir, project string) proc.Spec {
	return proc.Spec{
		Path: gcloud,
		Args: []string{
			"beta", "emulators", "pubsub", "start",
			"--host-port=" + addr,
			"--data-dir=" + dataDir,
			"--project=" + project,
			"--quiet",
		},
		// No prompt may wait for a terminal nobody watches.
		Env: []string{"CLOUDSDK_CORE_DISABLE_PROMPTS=1"},
	}
}

// PubSubReady is ready once the emulator on addr accepts connections.
func PubSubReady(addr string) proc.Check { return proc.TCPReady(addr) }

// FakeGCSSpec is fake-gcs-server's command line: bin serving plain HTTP
// on 127.0.0.1:port with an in-memory backend. Its STORAGE_EMULATOR_HOST
// is FakeGCSHost(port).
func FakeGCSSpec(bin string, port int) proc.Spec {
	addr := addr(port)
	return proc.Spec{
		Path: bin,
		Args: []string{
			"-scheme", "http",
			"-host", "127.0.0.1",
			"-port", strconv.Itoa(port),
			"-backend", "memory",
			// Resumable uploads are continued at the URL the server hands
			// out.
			"-external-url", FakeGCSHost(port),
			// XML API reads (the client's default) are served on this host.
			"-public-host", addr,
			"-log-level", "warn",
		},
	}
}

// FakeGCSHost is the STORAGE_EMULATOR_HOST of fake-gcs-server on port.
func FakeGCSHost(port int) string { return "http://" + addr(port) }

// FakeGCSReady is ready once fake-gcs-server at host (FakeGCSHost)
// answers its health check.
func FakeGCSReady(host string) proc.Check {
	return proc.HTTPReady(host+"/_internal/healthcheck", http.StatusOK)
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Proc is an emulator started by StartPubSub or StartFakeGCS.
type Proc struct {
	*proc.Proc
	// Addr is "127.0.0.1:port", where the emulator listens.
	Addr string
	// Host is the value for the emulator's *_EMULATOR_HOST variable.
	Host string

	spec  proc.Spec  // what started it, for Restart
	ready proc.Check // when it answers
}

// Stop ends the emulator's process group: SIGTERM, SIGKILL to whatever
// is left after a bound. It may be called again.
func (p *Proc) Stop() error { return p.Proc.Stop(stopGrace) }

// Restart stops the emulator's process group and starts it again on the
// same address, as a crashed or redeployed emulator comes back: the
// Pub/Sub emulator keeps nothing, so its topics, subscriptions and
// messages are gone. It returns once the emulator answers again.
func (p *Proc) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return fmt.Errorf("restart emulator on %s: %w", p.Addr, err)
	}
	np, err := rerun(ctx, p.spec, p.ready)
	if err != nil {
		return fmt.Errorf("restart emulator on %s: %w", p.Addr, err)
	}
	p.Proc = np
	return nil
}

// rerunAttempts and rerunPause bound rerun's retries while the port is
// still held by the process just stopped.
const (
	rerunAttempts = 5
	rerunPause    = 500 * time.Millisecond
)

// rerun starts spec again, on the address it names, and waits until
// ready: the way back of an emulator stopped on purpose. A start that
// exits before it is ready (its port not yet free) is tried again a few
// times.
func rerun(ctx context.Context, spec proc.Spec, ready proc.Check) (*proc.Proc, error) {
	for attempt := 1; ; attempt++ {
		np, err := proc.Start(spec)
		if err != nil {
			return nil, err
		}
		err = np.WaitReady(ctx, ready)
		if err == nil {
			return np, nil
		}
		if serr := np.Stop(stopGrace); serr != nil {
			err = fmt.Errorf("%w; then: %v", err, serr)
		}
		if !errors.Is(err, proc.ErrExited) || attempt == rerunAttempts || ctx.Err() != nil {
			if spec.LogPath != "" {
				err = fmt.Errorf("%w (see %s)", err, spec.LogPath)
			}
			return nil, err
		}
		select {
		case <-time.After(rerunPause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// StartPubSub starts the Pub/Sub emulator on a free port of 127.0.0.1,
// with its data under dir/data and its output in dir/pubsub.log. It
// returns once the port answers (several seconds: the emulator is a Java
// program), with Host set for PUBSUB_EMULATOR_HOST. The caller must call
// Stop, which ends the Java process too.
func StartPubSub(ctx context.Context, dir string) (*Proc, error) {
	if dir == "" {
		return nil, errors.New("start pubsub emulator: no directory for its data and log")
	}
	gcloud, err := GcloudPath()
	if err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	dataDir := filepath.Join(dir, "data")
	// gcloud fails when the data directory is missing, after it has
	// started Java.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	p, err := start(ctx, func(port int) (proc.Spec, proc.Check, string) {
		a := addr(port)
		s := PubSubSpec(gcloud, a, dataDir, PubSubProject)
		s.LogPath = filepath.Join(dir, "pubsub.log")
		return s, PubSubReady(a), a
	})
	if err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	return p, nil
}

// fakeGCSStartTimeout bounds StartFakeGCS when its context has no
// deadline.
const fakeGCSStartTimeout = 30 * time.Second

// StartFakeGCS starts fake-gcs-server (FakeGCSPath) on a free port of
// 127.0.0.1 and returns once it answers its health check. Its log goes to
// dir/fake-gcs-server.log (discarded when dir is ""). p.Host is the value
// for STORAGE_EMULATOR_HOST. The caller calls p.Stop.
func StartFakeGCS(ctx context.Context, dir string) (*Proc, error) {
	bin, err := FakeGCSPath("")
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fakeGCSStartTimeout)
		defer cancel()
	}
	p, err := start(ctx, func(port int) (proc.Spec, proc.Check, string) {
		s := FakeGCSSpec(bin, port)
		if dir != "" {
			s.LogPath = filepath.Join(dir, fakeGCSBinary+".log")
		}
		return s, FakeGCSReady(FakeGCSHost(port)), FakeGCSHost(port)
	})
	if err != nil {
		return nil, fmt.Errorf("fake-gcs-server: %w", err)
	}
	return p, nil
}

// start starts the emulator that spec describes on a free port and waits
// until it is ready, on another port when it exits first.
func start(ctx context.Context, spec func(port int) (s proc.Spec, ready proc.Check, host string)) (*Proc, error) {
	for attempt := 1; ; attempt++ {
		ports, err := proc.FreePorts(1)
		if err != nil {
			return nil, err
		}
		s, ready, host := spec(ports[0])
		p, err := proc.Start(s)
		if err != nil {
			return nil, err
		}
		err = p.WaitReady(ctx, ready)
		if err == nil {
			return &Proc{Proc: p, Addr: addr(ports[0]), Host: host, spec: s, ready: ready}, nil
		}
		if serr := p.Stop(stopGrace); serr != nil {
			err = fmt.Errorf("%w; then: %v", err, serr)
		}
		err = fmt.Errorf("on %s: %w", addr(ports[0]), err)
		if s.LogPath != "" {
			err = fmt.Errorf("%w (see %s)", err, s.LogPath)
		}
		if !errors.Is(err, proc.ErrExited) || attempt == startAttempts {
			return nil, err
		}
	}
}

// Require is how tests treat an emulator that could not be started: the
// test is skipped, except in CI (CI=true) where it fails, so that CI cannot
// pass by skipping the emulator path.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("emulator required in CI: %v", err)
		return
	}
	t.Skipf("emulator not available: %v", err)
}
