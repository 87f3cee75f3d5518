package load

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

// recordingTarget is a fast in-process HTTP target on 127.0.0.1 that keeps
// the text of every request it gets, in arrival order.
type recordingTarget struct {
	url   string
	mu    sync.Mutex
	texts []string
}

func startRecordingTarget(t *testing.T) *recordingTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &recordingTarget{url: "http://" + ln.Addr().String() + "/v1/predict"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		tg.texts = append(tg.texts, body.Text)
		tg.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"category":1,"label":"business"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return tg
}

// take returns the texts received so far and forgets them.
func (tg *recordingTarget) take() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	got := tg.texts
	tg.texts = nil
	return got
}

// closedPlan is a closed-model HTTP plan against url.
func closedPlan(url string, think time.Duration, texts []string, stages ...plan.Stage) *plan.Plan {
	p := &plan.Plan{
		Name: "closed",
		Target: plan.Target{
			Protocol:    plan.ProtocolHTTP,
			URL:         url,
			Body:        `{"text": {{json .Text}}}`,
			Timeout:     plan.Duration(2 * time.Second),
			Connections: 4,
		},
		Data:  plan.Data{Texts: texts},
		Load:  plan.Load{Model: plan.ModelClosed, Stages: stages, ThinkTime: plan.Duration(think)},
		Slice: plan.Duration(time.Second),
	}
	p.ApplyDefaults()
	return p
}

func stage(d time.Duration, users int) plan.Stage {
	return plan.Stage{Duration: plan.Duration(d), Users: users}
}

func TestClosedModel(t *testing.T) {
	t.Parallel()
	texts := []string{"the striker scored", "shares fell", "a new chip"}
	zero := 0
	tests := []struct {
		name   string
		plan   func(url string) *plan.Plan
		slices int
		check  func(t *testing.T, completed []int64)
	}{
		{
			// Users 0→4 over 2 s: 0.5 user-seconds in slice 0 (1 user from
			// 0.5 s), 2.5 in slice 1 (2 users, then 3). A 5 ms think time
			// bounds the load.
			name: "ramp from 0 to 4 users",
			plan: func(url string) *plan.Plan {
				p := closedPlan(url, 5*time.Millisecond, texts, stage(2*time.Second, 4))
				p.Load.StartUsers = &zero
				return p
			},
			slices: 2,
			check: func(t *testing.T, completed []int64) {
				if completed[0] == 0 || completed[1] < 2*completed[0] {
					t.Errorf("completed per slice %v: want slice 0 busy and slice 1 well over twice as busy (≈5×)", completed)
				}
			},
		},
		{
			// Each user sends every 50 ms plus the answer's time: 20 per
			// user in 1 s, 40 for two; timer lateness can only lower it.
			name: "think time paces the users",
			plan: func(url string) *plan.Plan {
				return closedPlan(url, 50*time.Millisecond, texts, stage(time.Second, 2))
			},
			slices: 1,
			check: func(t *testing.T, completed []int64) {
				if completed[0] < 30 || completed[0] > 42 {
					t.Errorf("completed %d requests, want about 2·1000/50 = 40 (30..42)", completed[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := startRecordingTarget(t)
			rs := runOneShard(t, tt.plan(tg.url))
			if len(rs) != tt.slices {
				t.Fatalf("got %d slices, want %d", len(rs), tt.slices)
			}
			var completed []int64
			var sent int64
			for _, r := range rs {
				if r.Errors != 0 || r.Dropped != 0 || r.Completed != r.Intended || r.Outcomes["http:200"] != r.Completed {
					t.Errorf("slice %d: intended %d completed %d errors %d dropped %d outcomes %v", r.Index, r.Intended, r.Completed, r.Errors, r.Dropped, r.Outcomes)
				}
				completed = append(completed, r.Completed)
				sent += r.Sent
			}
			if got := int64(len(tg.take())); got != sent {
				t.Errorf("target got %d requests, engine sent %d", got, sent)
			}
			t.Logf("completed per slice %v", completed)
			tt.check(t, completed)
		})
	}
}

// TestDataOrder checks which texts a user sends: in turn for sequential
// order; for random order, every text in a shuffled sequence that is the
// same from run to run.
func TestDataOrder(t *testing.T) {
	t.Parallel()
	var texts []string
	for i := range 10 {
		texts = append(texts, fmt.Sprintf("text %d", i))
	}
	inTurn := func(seq []string) bool {
		for i, s := range seq {
			if s != texts[i%len(texts)] {
				return false
			}
		}
		return true
	}
	tests := []struct {
		order      string
		wantInTurn bool
	}{
		{plan.OrderSequential, true},
		{plan.OrderRandom, false},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			t.Parallel()
			tg := startRecordingTarget(t)
			// One user, so that the target sees the user's own sequence.
			p := closedPlan(tg.url, 2*time.Millisecond, texts, stage(500*time.Millisecond, 1))
			p.Data.Order = tt.order
			var runs [2][]string
			for i := range runs {
				runOneShard(t, p)
				runs[i] = tg.take()
			}
			n := min(len(runs[0]), len(runs[1]))
			if n < 30 {
				t.Fatalf("runs sent %d and %d requests, want at least 30 each", len(runs[0]), len(runs[1]))
			}
			a, b := runs[0][:n], runs[1][:n]
			if !slices.Equal(a, b) {
				t.Errorf("two runs sent different sequences:\n%q\n%q", a, b)
			}
			if got := inTurn(a); got != tt.wantInTurn {
				t.Errorf("texts in turn = %v, want %v: %q", got, tt.wantInTurn, a)
			}
			distinct := map[string]bool{}
			for _, s := range a {
				if !slices.Contains(texts, s) {
					t.Fatalf("target got %q, not one of the data's texts", s)
				}
				distinct[s] = true
			}
			if len(distinct) < 8 {
				t.Errorf("%d distinct texts in %d requests, want nearly all 10", len(distinct), n)
			}
		})
	}
}
