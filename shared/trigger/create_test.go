package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType, body string
		shards                  int
		wantStart               time.Time // start_at
		wantEnd                 time.Time
	}{
		{"json", "application/json", planJSON(3, ""), 3,
			t0.Add(10 * time.Second).Truncate(time.Millisecond), t0.Add(20 * time.Second).Truncate(time.Millisecond)},
		{"json with charset and longer start_delay", "application/json; charset=utf-8", planJSON(1, `"start_delay": "1m"`), 1,
			t0.Add(time.Minute).Truncate(time.Millisecond), t0.Add(70 * time.Second).Truncate(time.Millisecond)},
		{"shorter start_delay than the lead time", "application/json", planJSON(1, `"start_delay": "2s"`), 1,
			t0.Add(10 * time.Second).Truncate(time.Millisecond), t0.Add(20 * time.Second).Truncate(time.Millisecond)},
		{"yaml", "application/yaml", planYAML, 2,
			t0.Add(30 * time.Second).Truncate(time.Millisecond), t0.Add(50 * time.Second).Truncate(time.Millisecond)},
		{"x-yaml", "application/x-yaml", planYAML, 2,
			t0.Add(30 * time.Second).Truncate(time.Millisecond), t0.Add(50 * time.Second).Truncate(time.Millisecond)},
		{"text/yaml", "text/yaml", planYAML, 2,
			t0.Add(30 * time.Second).Truncate(time.Millisecond), t0.Add(50 * time.Second).Truncate(time.Millisecond)},
		{"+json", "application/vnd.cicada+json", planJSON(2, ""), 2,
			t0.Add(10 * time.Second).Truncate(time.Millisecond), t0.Add(20 * time.Second).Truncate(time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			w := e.do(t, http.MethodPost, "/runs", tt.contentType, tt.body)
			if w.Code != http.StatusAccepted {
				t.Fatalf("POST /runs = %d %s, want 202", w.Code, w.Body)
			}
			got := decode[Accepted](t, w)
			if err := runid.Valid(got.RunID); err != nil {
				t.Errorf("run id: %v", err)
			}
			if !strings.HasPrefix(got.RunID, "20261127-040512-") {
				t.Errorf("run id %s, want it made from the injected clock", got.RunID)
			}
			if !got.StartAt.Equal(tt.wantStart) {
				t.Errorf("start_at = %v, want %v", got.StartAt, tt.wantStart)
			}
			wantURL := "http://example.com/runs/" + got.RunID
			if got.StatusURL != wantURL || w.Header().Get("Location") != wantURL {
				t.Errorf("status_url = %q, Location = %q, want %q", got.StatusURL, w.Header().Get("Location"), wantURL)
			}

			var run runs.Run
			if err := json.Unmarshal(e.get(t, runs.RunPath(got.RunID)), &run); err != nil {
				t.Fatalf("run.json: %v", err)
			}
			if run.ID != got.RunID || run.Shards != tt.shards || !run.StartAt.Equal(tt.wantStart) || !run.End.Equal(tt.wantEnd) || !run.Created.Equal(t0) {
				t.Errorf("run.json = %+v, want id %s, %d shards, start %v, end %v, created %v", run, got.RunID, tt.shards, tt.wantStart, tt.wantEnd, t0)
			}
			// plan.json is the normalized plan: defaults applied, JSON.
			stored, err := plan.Parse(e.get(t, runs.PlanPath(got.RunID)), "json")
			if err != nil {
				t.Fatalf("plan.json does not parse back: %v", err)
			}
			want, _ := plan.Parse([]byte(tt.body), "")
			if a, b := mustJSON(t, stored), mustJSON(t, want); a != b {
				t.Errorf("plan.json = %s, want %s", a, b)
			}
			if stored.Slice.D() != plan.DefaultSlice {
				t.Errorf("plan.json slice = %v, want the default %v applied", stored.Slice, plan.DefaultSlice)
			}
			checkShards(t, e.drain(t, 300*time.Millisecond), got.RunID, tt.shards)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// TestCreateRejected covers every way POST /runs refuses a plan; none of
// them may write an object or publish a message.
func TestCreateRejected(t *testing.T) {
	t.Parallel()
	small := testConfig()
	small.MaxBody = 200
	tests := []struct {
		name        string
		cfg         Config
		contentType string
		body        string
		header      []string
		code        int
		wantError   []string // substrings of "error"
		wantPaths   []string // problem paths, in order
	}{
		{
			name: "every validation problem with its path",
			body: `{"name": "", "target": {"protocol": "http", "url": "ftp://x", "timeout": "-1s"},
			        "data": {}, "load": {"model": "open", "stages": [{"duration": "0s", "rate": -1}]}, "shards": 0, "slice": "1ms"}`,
			contentType: "application/json",
			code:        http.StatusBadRequest,
			wantError:   []string{"invalid plan"},
			wantPaths:   []string{"name", "target.url", "target.timeout", "data", "load.stages[0].duration", "load.stages[0].rate", "slice"},
		},
		{
			name:        "unknown field",
			body:        planJSON(1, `"bogus": 1`),
			contentType: "application/json",
			code:        http.StatusBadRequest,
			wantError:   []string{"invalid plan"},
			wantPaths:   []string{"bogus"},
		},
		{
			name:        "yaml unknown nested field",
			body:        strings.Replace(planYAML, "  address:", "  adress: x\n  address:", 1),
			contentType: "application/yaml",
			code:        http.StatusBadRequest,
			wantPaths:   []string{"target.adress"},
		},
		{
			name:        "syntax error",
			body:        `{"name": `,
			contentType: "application/json",
			code:        http.StatusBadRequest,
			wantError:   []string{"invalid plan"},
		},
		{
			name:        "empty body",
			body:        " \n",
			contentType: "application/json",
			code:        http.StatusBadRequest,
			wantError:   []string{"empty body"},
		},
		{
			name:        "data file",
			body:        strings.Replace(planJSON(1, ""), `"texts": ["a", "b"]`, `"file": "/etc/passwd"`, 1),
			contentType: "application/json",
			code:        http.StatusBadRequest,
			wantPaths:   []string{"data.file"},
		},
		{
			name:        "oversize body",
			cfg:         small,
			body:        planJSON(1, ""),
			contentType: "application/json",
			code:        http.StatusRequestEntityTooLarge,
			wantError:   []string{"200 bytes"},
		},
		{
			name:        "http host not allowed",
			body:        strings.Replace(planJSON(1, ""), "127.0.0.1:8501", "10.1.2.3:8501", 1),
			contentType: "application/json",
			code:        http.StatusForbidden,
			wantError:   []string{"10.1.2.3", "target.url", "allowed targets: 127.0.0.1, localhost"},
			wantPaths:   []string{"target.url"},
		},
		{
			name:        "grpc host not allowed",
			body:        strings.Replace(planYAML, "localhost:50051", "predict.example.com:50051", 1),
			contentType: "application/yaml",
			code:        http.StatusForbidden,
			wantError:   []string{"predict.example.com", "target.address", "allowed targets: 127.0.0.1, localhost"},
			wantPaths:   []string{"target.address"},
		},
		{
			name:        "host allowed only on another port",
			cfg:         Config{AllowedTargets: []string{"127.0.0.1:9000"}, MaxBody: 1 << 20},
			body:        planJSON(1, ""),
			contentType: "application/json",
			code:        http.StatusForbidden,
			wantError:   []string{"127.0.0.1:8501", "allowed targets: 127.0.0.1:9000"},
		},
		{
			name:        "a name that resolves to loopback is still a name",
			body:        strings.Replace(planJSON(1, ""), "127.0.0.1:8501", "localtest.me:8501", 1),
			contentType: "application/json",
			code:        http.StatusForbidden,
			wantError:   []string{"localtest.me"},
		},
		{
			name:        "rate over the limit",
			body:        strings.Replace(planJSON(1, `"load": {"model": "open", "start_rate": 5000, "stages": [{"duration": "5s", "rate": 10}, {"duration": "5s", "rate": 1500}]}`), `"load": {"model": "open", "stages": [{"duration": "10s", "rate": 20}]}, `, "", 1),
			contentType: "application/json",
			code:        http.StatusUnprocessableEntity,
			wantError:   []string{"limits"},
			wantPaths:   []string{"load.start_rate", "load.stages[1].rate"},
		},
		{
			name:        "users, duration and shards over the limits",
			body:        strings.Replace(strings.Replace(planYAML, "{duration: 20s, users: 4}", "{duration: 2h, users: 500}", 1), "shards: 2", "shards: 17", 1),
			contentType: "application/yaml",
			code:        http.StatusUnprocessableEntity,
			wantPaths:   []string{"load.stages[0].users", "load.stages", "shards"},
		},
		{
			name:        "idempotency key too long",
			body:        planJSON(1, ""),
			contentType: "application/json",
			header:      []string{"Idempotency-Key", strings.Repeat("k", MaxIdempotencyKey+1)},
			code:        http.StatusBadRequest,
			wantError:   []string{"Idempotency-Key", "200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			if cfg.AllowedTargets == nil {
				cfg = testConfig()
			}
			cfg.AllowedHosts = testConfig().AllowedHosts
			e := newEnv(t, cfg)
			w := e.do(t, http.MethodPost, "/runs", tt.contentType, tt.body, tt.header...)
			if w.Code != tt.code {
				t.Fatalf("POST /runs = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			got := decode[errorBody](t, w)
			for _, s := range tt.wantError {
				if !strings.Contains(got.Error, s) {
					t.Errorf("error %q does not name %q", got.Error, s)
				}
			}
			var paths []string
			for _, p := range got.Problems {
				paths = append(paths, p.Path)
				if p.Reason == "" {
					t.Errorf("problem %q has no reason", p.Path)
				}
			}
			if tt.wantPaths != nil && fmt.Sprint(paths) != fmt.Sprint(tt.wantPaths) {
				t.Errorf("problem paths = %v, want %v (%s)", paths, tt.wantPaths, w.Body)
			}
			if objs := e.objects(t); len(objs) != 0 {
				t.Errorf("objects written for a refused plan: %v", objs)
			}
			if msgs := e.drain(t, 200*time.Millisecond); len(msgs) != 0 {
				t.Errorf("messages published for a refused plan: %+v", msgs)
			}
		})
	}
}

// TestCreateOversizeChunked checks the body limit holds when no
// Content-Length announces the size.
func TestCreateOversizeChunked(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxBody = 100
	e := newEnv(t, cfg)
	req, _ := http.NewRequest(http.MethodPost, "http://example.com/runs", strings.NewReader(planJSON(1, "")))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize POST = %d %s, want 413", w.Code, w.Body)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("objects written: %v", objs)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	key := []string{"Idempotency-Key", "nightly-2026-11-27"}
	first := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(3, ""), key...)
	if first.Code != http.StatusAccepted {
		t.Fatalf("first POST = %d %s, want 202", first.Code, first.Body)
	}
	a := decode[Accepted](t, first)

	// The retry may come later and in another format: same plan, same run.
	e.clock.Set(t0.Add(5 * time.Second))
	yamlPlan := `{name: trigger test, target: {protocol: http, url: "http://127.0.0.1:8501/v1/predict", body: '{"text": {{json .Text}}}'},
data: {texts: [a, b]}, load: {model: open, stages: [{duration: 10s, rate: 20}]}, shards: 3}`
	second := e.do(t, http.MethodPost, "/runs", "application/yaml", yamlPlan, key...)
	if second.Code != http.StatusOK {
		t.Fatalf("second POST = %d %s, want 200", second.Code, second.Body)
	}
	if b := decode[Accepted](t, second); b != a {
		t.Errorf("second POST answered %+v, want the first run %+v", b, a)
	}
	if second.Header().Get("Location") != a.StatusURL || second.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("second POST headers = %v, want Location %s and Idempotent-Replayed", second.Header(), a.StatusURL)
	}

	other := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(2, ""), key...)
	if other.Code != http.StatusUnprocessableEntity || !strings.Contains(other.Body.String(), a.RunID) {
		t.Errorf("same key, other plan = %d %s, want 422 naming run %s", other.Code, other.Body, a.RunID)
	}

	checkShards(t, e.drain(t, 300*time.Millisecond), a.RunID, 3)
	runsStored, err := e.st.List(context.Background(), "runs/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{runs.PlanPath(a.RunID), runs.RunPath(a.RunID)}; fmt.Sprint(runsStored) != fmt.Sprint(want) {
		t.Errorf("objects under runs/ = %v, want %v", runsStored, want)
	}
	var run runs.Run
	if err := json.Unmarshal(e.get(t, runs.RunPath(a.RunID)), &run); err != nil || run.IdempotencyKey != key[1] {
		t.Errorf("run.json idempotency_key = %q (%v), want %q", run.IdempotencyKey, err, key[1])
	}
}

func TestIdempotencyKeyParallel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	const n = 8
	var (
		wg    sync.WaitGroup
		codes [n]int
		ids   [n]Accepted
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(2, ""), "Idempotency-Key", "same")
			codes[i] = w.Code
			_ = json.Unmarshal(w.Body.Bytes(), &ids[i])
		}()
	}
	wg.Wait()
	accepted := 0
	for i := range n {
		switch codes[i] {
		case http.StatusAccepted:
			accepted++
		case http.StatusOK:
		default:
			t.Errorf("request %d: status %d, want 202 or 200", i, codes[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("request %d answered %+v, request 0 %+v: want one run", i, ids[i], ids[0])
		}
	}
	if accepted != 1 {
		t.Errorf("%d requests got 202, want exactly 1 (codes %v)", accepted, codes)
	}
	stored, err := e.st.List(context.Background(), "runs/")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Errorf("objects under runs/ = %v, want one run's plan.json and run.json", stored)
	}
	checkShards(t, e.drain(t, 300*time.Millisecond), ids[0].RunID, 2)
}

// TestIdempotencyKeyAbandoned covers a record left by a request that died
// before storing its run: a retry within idempotencyStale answers that run
// (its request may still be storing it), a later one starts a new run.
func TestIdempotencyKeyAbandoned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		age      time.Duration
		code     int
		sameRun  bool
		messages int
	}{
		{"fresh record: its request may still be at work", 10 * time.Second, http.StatusOK, true, 0},
		{"stale record: taken over", 2 * idempotencyStale, http.StatusAccepted, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			body := planJSON(1, "")
			p, err := plan.Parse([]byte(body), "json")
			if err != nil {
				t.Fatal(err)
			}
			orphan := idempotencyRecord{RunID: "20261127-040000-abcdef", StartAt: t0, PlanSHA256: sha(mustJSON(t, p)), Created: t0.Add(-tt.age)}
			e.put(t, IdempotencyPath("k"), mustJSON(t, orphan))
			w := e.do(t, http.MethodPost, "/runs", "application/json", body, "Idempotency-Key", "k")
			if w.Code != tt.code {
				t.Fatalf("POST = %d %s, want %d", w.Code, w.Body, tt.code)
			}
			got := decode[Accepted](t, w)
			if (got.RunID == orphan.RunID) != tt.sameRun {
				t.Errorf("run id %s, orphan %s: want same %v", got.RunID, orphan.RunID, tt.sameRun)
			}
			if msgs := e.drain(t, 300*time.Millisecond); len(msgs) != tt.messages {
				t.Errorf("%d messages, want %d", len(msgs), tt.messages)
			}
			var rec idempotencyRecord
			if err := json.Unmarshal(e.get(t, IdempotencyPath("k")), &rec); err != nil || rec.RunID != got.RunID {
				t.Errorf("record now names %q (%v), want %s", rec.RunID, err, got.RunID)
			}
		})
	}
}

// TestCreateBackendDown checks that failures of the bucket and the bus
// answer 503 with the cause, and what stays behind.
func TestCreateBackendDown(t *testing.T) {
	t.Parallel()
	t.Run("bus closed: 503, nothing kept", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		e.closeBus()
		w := e.do(t, http.MethodPost, "/runs", "application/json", planJSON(2, ""), "Idempotency-Key", "k")
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST = %d %s, want 503", w.Code, w.Body)
		}
		got := decode[errorBody](t, w)
		if !strings.Contains(got.Error, "nothing was started") || !strings.Contains(got.Error, "publish shard 0") {
			t.Errorf("503 body = %+v, want the cause and that nothing was started", got)
		}
		if objs := e.objects(t); len(objs) != 0 {
			t.Errorf("objects = %v, want none: the run withdrawn, the key released", objs)
		}
	})
	t.Run("store closed: 503, nothing published, key released", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		e.closeSt()
		// The store's client retries until the deadline: the request's own
		// bounds it here.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/runs", strings.NewReader(planJSON(2, "")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "x")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "Idempotency-Key") {
			t.Errorf("POST = %d %s, want 503 naming the failed step", w.Code, w.Body)
		}
		if msgs := e.drain(t, 200*time.Millisecond); len(msgs) != 0 {
			t.Errorf("published %+v with the store down", msgs)
		}
	})
}
