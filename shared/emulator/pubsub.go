package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// PubSubProject is the project the Pub/Sub emulator is started for. The
// emulator serves any project a client names; this one is gcloud's default.
const PubSubProject = "cicada-local"

// pubSubAttempts is how often StartPubSub tries a new port when the
// emulator exits before it answers: the free port it picked may have been
// taken in between.
const pubSubAttempts = 3

// StartPubSub starts the Pub/Sub emulator of the Google Cloud CLI
// (`gcloud beta emulators pubsub start`) on a free port of 127.0.0.1, in a
// process group of its own, with its data under dir/data and its output in
// dir/pubsub.log. It returns once the port answers (several seconds: the
// emulator is a Java program), with Host set for PUBSUB_EMULATOR_HOST.
// The caller must call Stop, which ends the Java process too.
func StartPubSub(ctx context.Context, dir string) (*Proc, error) {
	if dir == "" {
		return nil, errors.New("start pubsub emulator: no directory for its data and log")
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	dataDir := filepath.Join(dir, "data")
	// gcloud fails when the data directory is missing, after it has
	// started Java.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	logPath := filepath.Join(dir, "pubsub.log")
	for attempt := 1; ; attempt++ {
		p, err := startPubSubOnce(ctx, gcloud, dataDir, logPath)
		if err == nil || !errors.Is(err, errExitedEarly) || attempt == pubSubAttempts {
			return p, err
		}
	}
}

var errExitedEarly = errors.New("exited before it answered")

func startPubSubOnce(ctx context.Context, gcloud, dataDir, logPath string) (*Proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"beta", "emulators", "pubsub", "start",
		"--host-port=" + addr,
		"--data-dir=" + dataDir,
		"--project=" + PubSubProject,
		"--quiet",
	}
	// No prompt may wait for a terminal nobody watches.
	p, err := startProc(gcloud, args, []string{"CLOUDSDK_CORE_DISABLE_PROMPTS=1"}, logPath)
	if err != nil {
		return nil, fmt.Errorf("start pubsub emulator: %w", err)
	}
	p.Addr = addr
	p.Host = addr

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.Exited():
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := waitTCP(wctx, addr); err != nil {
		select {
		case <-p.Exited():
			_ = p.Stop()
			return nil, fmt.Errorf("start pubsub emulator on %s: %w (see %s)", addr, errExitedEarly, logPath)
		default:
		}
		if serr := p.Stop(); serr != nil {
			return nil, fmt.Errorf("start pubsub emulator on %s: %w; then: %v", addr, err, serr)
		}
		return nil, fmt.Errorf("start pubsub emulator on %s: %w (see %s)", addr, err, logPath)
	}
	return p, nil
}
