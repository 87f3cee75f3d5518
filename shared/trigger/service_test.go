package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/runs"
)

// service is the Service over e's store, bus and clock.
func (e *env) service(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := NewService(Deps{Store: e.st, Bus: e.bus, Config: cfg, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return s
}

// mustParse is plan.Parse of a test plan.
func mustParse(t *testing.T, doc string) *plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("parse test plan: %v", err)
	}
	return p
}

// TestServiceCreateRefused covers every refusal of Service.Create: the
// Kind, the message and the problem paths, and nothing stored or
// published.
func TestServiceCreateRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sub       func(t *testing.T) Submission
		kind      Kind
		wantError string
		wantPaths []string
	}{
		{
			name:      "no plan",
			sub:       func(*testing.T) Submission { return Submission{} },
			kind:      KindInvalid,
			wantError: "no plan",
		},
		{
			name: "key too long",
			sub: func(t *testing.T) Submission {
				return Submission{Plan: mustParse(t, planJSON(1, "")), IdempotencyKey: strings.Repeat("k", MaxIdempotencyKey+1)}
			},
			kind:      KindInvalid,
			wantError: "at most 200 characters, got 201",
		},
		{
			name: "texts from a file",
			sub: func(t *testing.T) Submission {
				p := mustParse(t, planJSON(1, ""))
				p.Data = plan.Data{File: "/etc/passwd"}
				return Submission{Plan: p}
			},
			kind:      KindInvalid,
			wantError: "invalid plan",
			wantPaths: []string{"data.file"},
		},
		{
			name: "target host not allowed",
			sub: func(t *testing.T) Submission {
				return Submission{Plan: mustParse(t, strings.Replace(planJSON(1, ""), "127.0.0.1:8501", "10.1.2.3:8501", 1))}
			},
			kind:      KindForbidden,
			wantError: "target host 10.1.2.3 of target.url (10.1.2.3:8501) is not allowed by this trigger; allowed targets: 127.0.0.1, localhost",
			wantPaths: []string{"target.url"},
		},
		{
			name: "unreadable target",
			sub: func(t *testing.T) Submission {
				p := mustParse(t, planYAML)
				p.Target.Address = "no port"
				return Submission{Plan: p}
			},
			kind:      KindInvalid,
			wantError: "invalid plan",
			wantPaths: []string{"target.address"},
		},
		{
			name: "over every limit at once",
			sub: func(t *testing.T) Submission {
				doc := strings.Replace(strings.Replace(planYAML, "{duration: 20s, users: 4}", "{duration: 2h, users: 500}", 1), "shards: 2", "shards: 17", 1)
				return Submission{Plan: mustParse(t, doc)}
			},
			kind:      KindOverLimit,
			wantError: "plan over this trigger's limits",
			wantPaths: []string{"load.stages[0].users", "load.stages", "shards"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig())
			c, err := e.service(t, testConfig()).Create(t.Context(), tt.sub(t))
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Create = %+v, %v; want an *Error", c, err)
			}
			if te.Kind != tt.kind || KindOf(err) != tt.kind {
				t.Errorf("kind %d, want %d", te.Kind, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("error %q, want it to say %q", err, tt.wantError)
			}
			var paths []string
			for _, p := range te.Problems {
				paths = append(paths, p.Path)
			}
			if fmt.Sprint(paths) != fmt.Sprint(tt.wantPaths) {
				t.Errorf("problem paths %v, want %v", paths, tt.wantPaths)
			}
			if c != (Created{}) {
				t.Errorf("Created %+v for a refusal, want zero", c)
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

// TestServiceCreate covers Service.Create's runs: a new one, one replayed
// by its Idempotency-Key, a key reused with another plan, and a caller
// that has already given up.
func TestServiceCreate(t *testing.T) {
	t.Parallel()
	t.Run("new run stored and published", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		p := mustParse(t, planJSON(3, `"start_delay": "1m"`))
		c, err := e.service(t, testConfig()).Create(t.Context(), Submission{Plan: p})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if wantStart := t0.Add(time.Minute).Truncate(time.Millisecond); c.Replayed || !c.StartAt.Equal(wantStart) || !strings.HasPrefix(c.RunID, "20261127-040512-") {
			t.Errorf("Created %+v, want a new run from the clock starting at %v", c, wantStart)
		}
		var run runs.Run
		if err := json.Unmarshal(e.get(t, runs.RunPath(c.RunID)), &run); err != nil {
			t.Fatalf("run.json: %v", err)
		}
		if run.ID != c.RunID || run.Shards != 3 || run.PlanName != p.Name || !run.End.Equal(c.StartAt.Add(10*time.Second)) || run.IdempotencyKey != "" {
			t.Errorf("run.json %+v, want run %s of plan %q, 3 shards, 10s long, no key", run, c.RunID, p.Name)
		}
		if got, want := string(e.get(t, runs.PlanPath(c.RunID))), mustJSON(t, p); got != want {
			t.Errorf("plan.json %s, want %s", got, want)
		}
		checkShards(t, e.drain(t, 300*time.Millisecond), c.RunID, 3)
	})

	t.Run("same key: replayed, key reused with another plan: refused", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		s := e.service(t, testConfig())
		first, err := s.Create(t.Context(), Submission{Plan: mustParse(t, planJSON(2, "")), IdempotencyKey: "nightly"})
		if err != nil || first.Replayed {
			t.Fatalf("first Create = %+v, %v; want a new run", first, err)
		}
		e.clock.Set(t0.Add(5 * time.Second))
		again, err := s.Create(t.Context(), Submission{Plan: mustParse(t, planJSON(2, "")), IdempotencyKey: "nightly"})
		if want := (Created{RunID: first.RunID, StartAt: first.StartAt, Replayed: true}); err != nil || again != want {
			t.Errorf("second Create = %+v, %v; want %+v", again, err, want)
		}
		_, err = s.Create(t.Context(), Submission{Plan: mustParse(t, planJSON(1, "")), IdempotencyKey: "nightly"})
		if KindOf(err) != KindKeyReused || !errors.Is(err, errKeyReused) || !strings.Contains(err.Error(), first.RunID) {
			t.Errorf("other plan, same key: %v; want KindKeyReused naming run %s", err, first.RunID)
		}
		checkShards(t, e.drain(t, 300*time.Millisecond), first.RunID, 2)
	})

	t.Run("a caller that gave up does not cut the run short", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c, err := e.service(t, testConfig()).Create(ctx, Submission{Plan: mustParse(t, planJSON(4, ""))})
		if err != nil {
			t.Fatalf("Create with a cancelled context: %v", err)
		}
		checkShards(t, e.drain(t, 300*time.Millisecond), c.RunID, 4)
	})
}

// TestServiceCreateBackendDown checks the errors of a failed bucket or bus.
func TestServiceCreateBackendDown(t *testing.T) {
	t.Parallel()
	t.Run("bus closed: unavailable, the run withdrawn", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		e.closeBus()
		c, err := e.service(t, testConfig()).Create(t.Context(), Submission{Plan: mustParse(t, planJSON(10, ""))})
		if KindOf(err) != KindUnavailable || c.RunID != "" {
			t.Fatalf("Create = %+v, %v; want KindUnavailable and no run", c, err)
		}
		if !strings.Contains(err.Error(), "publish shard 0") || !strings.Contains(err.Error(), "nothing was started") {
			t.Errorf("error %q: want the cause and that nothing was started", err)
		}
		if got := e.objects(t); len(got) != 0 {
			t.Errorf("objects %v, want none", got)
		}
	})
	t.Run("store closed: unavailable", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, testConfig())
		e.closeSt()
		// The store's client retries until the deadline: the caller's own
		// bounds it here.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		for _, key := range []string{"", "k"} {
			_, err := e.service(t, testConfig()).Create(ctx, Submission{Plan: mustParse(t, planJSON(2, "")), IdempotencyKey: key})
			if KindOf(err) != KindUnavailable {
				t.Errorf("key %q: Create error %v (kind %d), want KindUnavailable", key, err, KindOf(err))
			}
		}
		if msgs := e.drain(t, 200*time.Millisecond); len(msgs) != 0 {
			t.Errorf("published %+v with the store down", msgs)
		}
	})
}
