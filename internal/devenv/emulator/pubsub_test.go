package emulator

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// javaOnPort lists the pids of live processes whose command line names the
// emulator's port: the gcloud wrapper and the Java server it starts.
func javaOnPort(t *testing.T, port string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to look for processes: %v", err)
	}
	var pids []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // not a process, or exited, or a zombie
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "java") && strings.Contains(cmd, "--port="+port) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestStartPubSub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	p, err := StartPubSub(ctx, dir)
	Require(t, err)
	t.Logf("emulator answered on %s after %v", p.Host, time.Since(start).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = p.Stop()
		}
	})

	host, port, err := net.SplitHostPort(p.Host)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Host = %q, want 127.0.0.1:port (%v)", p.Host, err)
	}
	if p.Addr != p.Host {
		t.Errorf("Addr = %q, want Host %q", p.Addr, p.Host)
	}
	if _, err := os.Stat(filepath.Join(dir, "pubsub.log")); err != nil {
		t.Errorf("log file: %v", err)
	}

	// It serves Pub/Sub, not only TCP.
	c, err := pubsub.NewClient(ctx, PubSubProject,
		option.WithEndpoint(p.Host),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer c.Close()
	name := "projects/" + PubSubProject + "/topics/cicada-emulator-check"
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}

	if pids := javaOnPort(t, port); len(pids) == 0 {
		t.Fatalf("no Java process on port %s while the emulator runs: the check below would prove nothing", port)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	stopped = true
	if pids := javaOnPort(t, port); len(pids) != 0 {
		t.Errorf("after Stop, processes %v still serve port %s", pids, port)
	}
	select {
	case <-p.Exited():
	default:
		t.Errorf("after Stop, Exited() is not closed")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartPubSubErrors(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		dir  string
	}{
		{"no directory", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Minute)
		}, ""},
		{"context already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			p, err := StartPubSub(ctx, tt.dir)
			if err == nil {
				_ = p.Stop()
				t.Fatalf("StartPubSub succeeded, want an error")
			}
			if p != nil {
				t.Errorf("StartPubSub returned a Proc with error %v", err)
			}
		})
	}
}
