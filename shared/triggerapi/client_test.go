package triggerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// answer is what the fake trigger answers one request with.
type answer struct {
	code int
	body string
}

// fakeTrigger answers each "METHOD /path" with a fixed answer, records the
// last request's headers and body, and 404s anything else as the trigger
// does.
type fakeTrigger struct {
	answers map[string]answer
	header  http.Header
	body    string
}

func (f *fakeTrigger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.header, f.body = r.Header.Clone(), string(b)
	a, ok := f.answers[r.Method+" "+r.URL.Path]
	if !ok {
		a = answer{http.StatusNotFound, `{"error": "not found"}`}
	}
	w.WriteHeader(a.code)
	_, _ = io.WriteString(w, a.body)
}

func serve(t *testing.T, answers map[string]answer) (*Client, *fakeTrigger) {
	t.Helper()
	f := &fakeTrigger{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return New(srv.URL + "/"), f
}

const runID = "20261127-040512-3f9a1c"

func TestSubmit(t *testing.T) {
	t.Parallel()
	accepted := `{"run_id": "` + runID + `", "start_at": "2026-11-27T04:05:20Z", "status_url": "http://t/runs/` + runID + `"}`
	tests := []struct {
		name       string
		answer     answer
		key        string
		wantErr    string
		wantStatus int // of the *Error, when wantErr
	}{
		{"accepted", answer{http.StatusAccepted, accepted}, "", "", 0},
		{"the key's run again", answer{http.StatusOK, accepted}, "nightly-1", "", 0},
		{"forbidden host", answer{http.StatusForbidden, `{"error": "target host 10.1.2.3 not allowed"}`}, "", "HTTP 403 Forbidden: {\"error\": \"target host 10.1.2.3 not allowed\"}", http.StatusForbidden},
		{"not a plan", answer{http.StatusBadRequest, `{"error": "bad plan"}`}, "", "submit plan: HTTP 400", http.StatusBadRequest},
		{"answer not JSON", answer{http.StatusAccepted, "ok"}, "", "submit plan: answer", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, f := serve(t, map[string]answer{"POST /runs": tt.answer})
			acc, err := c.Submit(context.Background(), []byte("name: p\n"), "application/yaml", tt.key)
			if got := f.header.Get("Content-Type"); got != "application/yaml" {
				t.Errorf("Content-Type %q, want application/yaml", got)
			}
			if got := f.header.Get("Idempotency-Key"); got != tt.key {
				t.Errorf("Idempotency-Key %q, want %q", got, tt.key)
			}
			if f.body != "name: p\n" {
				t.Errorf("body %q, want the plan", f.body)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Submit error = %v, want %q", err, tt.wantErr)
				}
				var e *Error
				if got := errors.As(err, &e); got != (tt.wantStatus != 0) || (got && e.StatusCode != tt.wantStatus) {
					t.Errorf("Submit error %v: *Error %v, want status %d", err, e, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			want := time.Date(2026, 11, 27, 4, 5, 20, 0, time.UTC)
			if acc.RunID != runID || !acc.StartAt.Equal(want) || acc.StatusURL != "http://t/runs/"+runID {
				t.Errorf("Submit = %+v", acc)
			}
		})
	}
}

func TestStatusCancelAndFiles(t *testing.T) {
	t.Parallel()
	status := `{"run_id": "` + runID + `", "phase": "done", "shards": 2, "shards_done": 2, "summary": {"sent": 10},
		"links": {"report.json": "http://t/runs/` + runID + `/report.json"}}`
	reportJSON := `{"run_id": "` + runID + `", "verdict": "pass"}`
	c, f := serve(t, map[string]answer{
		"GET /runs/" + runID:                  {http.StatusOK, status},
		"GET /runs/" + runID + "/report.json": {http.StatusOK, reportJSON},
		"DELETE /runs/" + runID:               {http.StatusAccepted, `{"run_id": "` + runID + `", "phase": "cancelled", "status_url": "u"}`},
		"DELETE /runs/20261127-000000-000000": {http.StatusConflict, `{"error": "already finished"}`},
	})
	ctx := context.Background()
	const unknown = "20261127-000000-000000"
	tests := []struct {
		name     string
		call     func() (string, error) // what of the answer to check
		want     string
		wantErr  string
		notFound bool
		accept   string // the request's Accept header
	}{
		{"status", func() (string, error) {
			st, err := c.Status(ctx, runID)
			return fmt.Sprintf("%s %d/%d %s %v", st.Phase, st.ShardsDone, st.Shards, st.Summary, st.HasReport()), err
		}, `done 2/2 {"sent": 10} true`, "", false, "application/json"},
		{"status of an unknown run", func() (string, error) { _, err := c.Status(ctx, unknown); return "", err },
			"", "status of run " + unknown + ": HTTP 404 Not Found", true, "application/json"},
		{"cancel", func() (string, error) { cl, err := c.Cancel(ctx, runID); return cl.RunID + " " + cl.Phase, err },
			runID + " cancelled", "", false, ""},
		{"cancel of a finished run", func() (string, error) { _, err := c.Cancel(ctx, unknown); return "", err },
			"", "cancel run " + unknown + ": HTTP 409 Conflict", false, ""},
		{"file", func() (string, error) { b, err := c.File(ctx, runID, "report.json"); return string(b), err },
			reportJSON, "", false, ""},
		{"file not written", func() (string, error) { _, err := c.File(ctx, runID, "report.html"); return "", err },
			"", "report.html of run " + runID + ": HTTP 404", true, ""},
		{"report", func() (string, error) { rep, err := c.Report(ctx, runID); return rep.RunID + " " + rep.Verdict, err },
			runID + " pass", "", false, ""},
		{"report of an unknown run", func() (string, error) { _, err := c.Report(ctx, unknown); return "", err },
			"", "report.json of run " + unknown + ": HTTP 404", true, ""},
	}
	for _, tt := range tests {
		// In turn: the fake keeps the last request's headers.
		got, err := tt.call()
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || IsNotFound(err) != tt.notFound {
				t.Errorf("%s: error %v (not found %v), want %q (not found %v)", tt.name, err, IsNotFound(err), tt.wantErr, tt.notFound)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case got != tt.want:
			t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
		}
		if a := f.header.Get("Accept"); a != tt.accept {
			t.Errorf("%s: Accept %q, want %q", tt.name, a, tt.accept)
		}
	}
}

func TestReportDecodeError(t *testing.T) {
	t.Parallel()
	c, _ := serve(t, map[string]answer{"GET /runs/" + runID + "/report.json": {http.StatusOK, "<html>"}})
	if _, err := c.Report(context.Background(), runID); err == nil || !strings.Contains(err.Error(), "report of run "+runID+": decode report") || IsNotFound(err) {
		t.Errorf("Report of a file that is not JSON: error %v, want a decode error", err)
	}
}

// phases is a fake trigger whose run goes through the given phases, one
// per status request, the last with its report written.
type phases struct {
	seq   []string
	calls atomic.Int32
	fail  bool // answer 503 after the first status
}

func (p *phases) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(p.calls.Add(1)) - 1
	if p.fail && n > 0 {
		http.Error(w, `{"error": "bucket down"}`, http.StatusServiceUnavailable)
		return
	}
	phase := p.seq[min(n, len(p.seq)-1)]
	st := Status{RunID: runID, Phase: phase, Links: map[string]string{}}
	if n >= len(p.seq)-1 {
		st.Links["report.json"] = "u"
	}
	_ = json.NewEncoder(w).Encode(st)
}

func TestWaitReport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		seq       []string
		fail      bool
		timeout   time.Duration
		wantPhase string
		wantSeen  []string
		wantErr   string
	}{
		{"until the report", []string{PhaseScheduled, PhaseRunning, PhaseFinalizing, PhaseDone}, false, time.Minute, PhaseDone,
			[]string{PhaseScheduled, PhaseRunning, PhaseFinalizing, PhaseDone}, ""},
		{"already done", []string{PhaseDone}, false, time.Minute, PhaseDone, []string{PhaseDone}, ""},
		{"the trigger fails", []string{PhaseRunning, PhaseDone}, true, time.Minute, PhaseRunning, []string{PhaseRunning}, "HTTP 503"},
		{"ctx ends first", []string{PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseRunning, PhaseDone},
			false, 25 * time.Millisecond, PhaseRunning, nil, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&phases{seq: tt.seq, fail: tt.fail})
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			var seen []string
			st, err := New(srv.URL).WaitReport(ctx, runID, 10*time.Millisecond, func(s Status) { seen = append(seen, s.Phase) })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("WaitReport error = %v, want %q", err, tt.wantErr)
			}
			if st.Phase != tt.wantPhase {
				t.Errorf("WaitReport status phase %q, want %q", st.Phase, tt.wantPhase)
			}
			if tt.wantSeen != nil && strings.Join(seen, ",") != strings.Join(tt.wantSeen, ",") {
				t.Errorf("seen %v, want %v", seen, tt.wantSeen)
			}
			if st.HasReport() != (err == nil) {
				t.Errorf("HasReport %v with error %v", st.HasReport(), err)
			}
		})
	}
}
