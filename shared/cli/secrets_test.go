package cli

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// planted are the secrets the redaction tests put in a plan; none may come
// out of the command.
var planted = []string{"PLANTEDQUERY", "PLANTEDAUTH", "PLANTEDTENANT"}

// secretTarget serves plain HTTP on 127.0.0.1 and counts the requests that
// arrive with the planted credentials, which must still be sent.
func secretTarget(t *testing.T) (addr string, authorized *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	authorized = new(atomic.Int64)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer PLANTEDAUTH" && r.Header.Get("X-Tenant-Token") == "PLANTEDTENANT" &&
			r.URL.Query().Get("api_key") == "PLANTEDQUERY" {
			authorized.Add(1)
		}
		_, _ = io.WriteString(w, `{"label":"sports"}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), authorized
}

// secretPlan is a plan carrying literal credentials: headers, and the
// target URL's query. scheme https against the plain HTTP target makes
// every request fail with an error that quotes the URL.
func secretPlan(t *testing.T, scheme, addr string) string {
	return writePlan(t, `name: secrets
target:
  protocol: http
  url: `+scheme+`://`+addr+`/v1/predict?api_key=PLANTEDQUERY&model=m
  headers: {Authorization: Bearer PLANTEDAUTH, X-Tenant-Token: PLANTEDTENANT, Content-Type: application/json}
  body: '{"text": {{json .Text}}}'
data: {texts: [a, b]}
load: {model: open, stages: [{duration: 1s, rate: 20}]}
slice: 500ms
max_lateness: 1s
`)
}

// checkNoSecret fails for every planted secret in what, and every file
// under dir that holds one.
func checkNoSecret(t *testing.T, name, what string) {
	t.Helper()
	for _, s := range planted {
		if strings.Contains(what, s) {
			t.Errorf("%s holds %s:\n%s", name, s, what)
		}
	}
}

func checkNoSecretIn(t *testing.T, dir string) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 { // latest points at the run's directory
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		checkNoSecret(t, path, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRunRedacts: cicada run accepts literal credentials, sends them, and
// shows none of them: not in its output, not in any report file, not in
// the sample errors that quote the target's URL.
func TestRunRedacts(t *testing.T) {
	t.Parallel()
	addr, authorized := secretTarget(t)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr syncBuffer
			err := Main(context.Background(), []string{"run", secretPlan(t, scheme, addr), "--out", out, "--secret-header", "X-Tenant-Token"}, &stdout, &stderr)
			if scheme == "http" && err != nil {
				t.Fatalf("run: %v\n%s", err, stdout.String())
			}
			if err != nil {
				checkNoSecret(t, "the error", err.Error())
			}
			checkNoSecret(t, "stdout", stdout.String())
			checkNoSecret(t, "stderr", stderr.String())
			if n := checkNoSecretIn(t, out); n == 0 {
				t.Error("no report file written")
			}
			rep, rerr := os.ReadFile(filepath.Join(out, "report.json"))
			if rerr != nil {
				t.Fatal(rerr)
			}
			html, _ := os.ReadFile(filepath.Join(out, "report.html"))
			if !strings.Contains(string(html), "Authorization") || !strings.Contains(string(html), "REDACTED") {
				t.Error("report.html does not show the plan's headers redacted")
			}
			if scheme == "https" && !strings.Contains(string(rep), "api_key=REDACTED") {
				t.Errorf("report.json has no sample error quoting the URL redacted:\n%s", rep)
			}
		})
	}
	if authorized.Load() == 0 {
		t.Error("the target saw no request with the plan's credentials")
	}
}

// TestLocalRedacts runs a plan with literal credentials through cicada
// local (trigger, workers, aggregator): they reach the target, and appear
// nowhere in out/<run-id>/, the command's output or its logs.
func TestLocalRedacts(t *testing.T) {
	t.Parallel()
	addr, authorized := secretTarget(t)
	dir := t.TempDir()
	out, bucket := filepath.Join(dir, "out"), filepath.Join(dir, "bucket")
	var stdout, stderr syncBuffer
	err := Main(context.Background(), []string{"local", secretPlan(t, "http", addr), "--out", out, "--bucket", bucket,
		"--workers", "1", "--verbose", "--secret-header", "X-Tenant-Token"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("local: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	checkNoSecret(t, "stdout", stdout.String())
	checkNoSecret(t, "stderr (logs)", stderr.String())
	if !strings.Contains(stderr.String(), "run accepted") {
		t.Errorf("stderr holds no log line of the pipeline:\n%s", stderr.String())
	}
	if n := checkNoSecretIn(t, out); n < 5 {
		t.Errorf("%d report files in %s, want them all", n, out)
	}
	if authorized.Load() == 0 {
		t.Error("the target saw no request with the plan's credentials")
	}
}
