package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// t0 is the tests' clock: 2026-11-27 04:05:12.345678901 UTC.
var t0 = time.Date(2026, 11, 27, 4, 5, 12, 345678901, time.UTC)

// clock is an adjustable Now for handlers under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a trigger over the in-process store and bus.
type env struct {
	h        http.Handler
	st       *store.GCS
	bus      *bus.PubSub
	clock    *clock
	closeBus func()
	closeSt  func()
}

// testConfig is the configuration most tests use.
func testConfig() Config {
	return Config{
		AllowedTargets: []string{"127.0.0.1", "localhost"},
		MaxRate:        1000,
		MaxUsers:       100,
		MaxDuration:    time.Hour,
		MaxShards:      16,
		MaxBody:        1 << 20,
		LeadTime:       10 * time.Second,
		// httptest's requests come to example.com, with no listener.
		Access: Access{AllowedHosts: []string{"example.com"}},
	}
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	st, _, closeSt, err := store.NewInProcess("cicada-test")
	if err != nil {
		t.Fatalf("in-process store: %v", err)
	}
	closeSt = onceFunc(closeSt)
	t.Cleanup(closeSt)
	b, closeBus, err := bus.NewInProcess(context.Background())
	closeBus = onceFunc(closeBus)
	t.Cleanup(closeBus)
	if err != nil {
		t.Fatalf("in-process bus: %v", err)
	}
	c := &clock{t: t0}
	e := &env{st: st, bus: b, clock: c, closeBus: closeBus, closeSt: closeSt}
	e.h = NewHandler(Deps{Store: st, Bus: b, Config: cfg, Now: c.Now})
	return e
}

// do sends one request to the handler and returns the response.
func (e *env) do(t *testing.T, method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

// decode unmarshals a JSON response body into v.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (body %s)", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, w.Body, err)
	}
	return v
}

// drain pulls every shard message there is, acking each, and returns them
// decoded. It stops after quiet passes with no message.
func (e *env) drain(t *testing.T, quiet time.Duration) []shardMsg {
	t.Helper()
	var out []shardMsg
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		m, err := e.bus.Pull(ctx, bus.ShardsSub, 10*time.Second)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatalf("pull shard message: %v", err)
		}
		var w runs.ShardWork
		if err := json.Unmarshal(m.Data(), &w); err != nil {
			t.Errorf("shard message %q: %v", m.Data(), err)
		}
		out = append(out, shardMsg{work: w, attrs: m.Attributes()})
		if err := m.Ack(context.Background()); err != nil {
			t.Errorf("ack: %v", err)
		}
	}
}

type shardMsg struct {
	work  runs.ShardWork
	attrs map[string]string
}

// checkShards asserts msgs hold exactly one message per shard of run id.
func checkShards(t *testing.T, msgs []shardMsg, id string, shards int) {
	t.Helper()
	if len(msgs) != shards {
		t.Errorf("got %d shard messages, want %d: %+v", len(msgs), shards, msgs)
	}
	var got []int
	for _, m := range msgs {
		if m.work.RunID != id || m.attrs["run_id"] != id {
			t.Errorf("message %+v: run id, want %s", m, id)
		}
		if m.work.Reason != "start" {
			t.Errorf("message %+v: reason %q, want start", m, m.work.Reason)
		}
		if m.attrs["shard"] != strconv.Itoa(m.work.Shard) {
			t.Errorf("message %+v: shard attribute does not match body", m)
		}
		got = append(got, m.work.Shard)
	}
	slices.Sort(got)
	for i := range shards {
		if i >= len(got) || got[i] != i {
			t.Errorf("shards published = %v, want 0..%d once each", got, shards-1)
			break
		}
	}
}

// objects lists every object in the bucket.
func (e *env) objects(t *testing.T) []string {
	t.Helper()
	names, err := e.st.List(context.Background(), "")
	if err != nil {
		t.Fatalf("list bucket: %v", err)
	}
	return names
}

// put writes an object straight into the bucket.
func (e *env) put(t *testing.T, name, data string) {
	t.Helper()
	if _, err := e.st.Put(context.Background(), name, []byte(data), "application/octet-stream"); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

// get reads an object from the bucket.
func (e *env) get(t *testing.T, name string) []byte {
	t.Helper()
	obj, err := e.st.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj.Data
}

// planJSON is a valid open-model plan aimed at 127.0.0.1, with overrides
// spliced in by key.
func planJSON(shards int, extra string) string {
	s := `{"name": "trigger test", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/v1/predict",
  "body": "{\"text\": {{json .Text}}}"}, "data": {"texts": ["a", "b"]},
  "load": {"model": "open", "stages": [{"duration": "10s", "rate": 20}]}, "shards": ` + strconv.Itoa(shards)
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

const planYAML = `
name: yaml plan
target:
  protocol: grpc
  address: localhost:50051
  method: /cicada.v1.Predictor/Predict
  request: '{"text": {{json .Text}}}'
data:
  texts: [one, two]
load:
  model: closed
  stages:
    - {duration: 20s, users: 4}
shards: 2
start_delay: 30s
`

// sha is the hex SHA-256 of s.
func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// onceFunc makes a cleanup safe to call twice: tests close a backend early
// to see the handler cope, and t.Cleanup closes it again.
func onceFunc(f func()) func() { return sync.OnceFunc(f) }
