package inprocess

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/gcemetadata"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
)

// startTarget serves 127.0.0.1 answering 200 to a request with a current
// token of md, 401 to any other; it audits every request.
func startTarget(t *testing.T, audit *gcemetadata.Audit) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if audit != nil && !audit.Check(r.Header.Get("Authorization")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"label":"sports"}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/v1/predict"
}

func authPlan(url string, auth *plan.Auth) *plan.Plan {
	p := &plan.Plan{
		Name:   "auth",
		Target: plan.Target{Protocol: plan.ProtocolHTTP, URL: url, Body: `{"text": {{json .Text}}}`, Connections: 10, Auth: auth},
		Data:   plan.Data{Texts: []string{"the striker scored", "shares fell", "a new chip"}},
		Load:   plan.Load{Model: plan.ModelOpen, Stages: []plan.Stage{{Duration: plan.Duration(20 * time.Second), Rate: 200}}},
		Slice:  plan.Duration(5 * time.Second),
	}
	p.ApplyDefaults()
	return p
}

func runPlan(t *testing.T, p *plan.Plan) *report.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), p.Duration()+30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Plan: p, RunID: "auth"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// TestTokensExpiringEvery5s runs 20 s of load with Google access tokens
// that expire every 5 s, minted by a metadata server stand-in that takes a
// second to answer: the target sees several tokens and never an expired
// one, and the generator is no later than in the same run without a
// credential, side by side (a request that waited for a refresh would be a
// second late).
func TestTokensExpiringEvery5s(t *testing.T) {
	const slowMetadata = time.Second
	md := gcemetadata.Start(5 * time.Second)
	t.Cleanup(md.Close)
	md.SetDelay(slowMetadata)
	t.Setenv("GCE_METADATA_HOST", md.Host)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir())

	// The two runs go at the same time, so that both see the machine as
	// busy as it is then. The maximum lateness of a run is still its worst
	// scheduling hiccup, up to tens of milliseconds on a busy shared
	// machine, in either run: twice the plain run's, or 20 ms more, is
	// noise, and a pair beyond that is run once more before it counts.
	for attempt := 1; ; attempt++ {
		var (
			plain, authed *report.Report
			wg            sync.WaitGroup
		)
		audit := md.NewAudit()
		plainPlan := authPlan(startTarget(t, nil), nil)
		authedPlan := authPlan(startTarget(t, audit), &plan.Auth{GoogleAccessToken: &plan.GoogleAccessToken{}})
		wg.Add(2)
		go func() { defer wg.Done(); plain = runPlan(t, plainPlan) }()
		go func() { defer wg.Done(); authed = runPlan(t, authedPlan) }()
		wg.Wait()
		if plain == nil || authed == nil {
			t.FailNow() // runPlan said why
		}

		c := audit.Counts()
		s := authed.Summary
		t.Logf("with auth: %d requests, %d distinct tokens, max lateness %.3f ms; without: max lateness %.3f ms",
			s.Sent, c.Distinct, s.MaxLatenessMS, plain.Summary.MaxLatenessMS)
		if s.Intended != 4000 || s.Sent != 4000 || s.Outcomes["http:200"] != 4000 || int64(c.OK) != s.Sent {
			t.Errorf("intended %d, sent %d, outcomes %v, current tokens at the target %d; want 4000 of each", s.Intended, s.Sent, s.Outcomes, c.OK)
		}
		if c.Expired != 0 || c.Unknown != 0 || c.Missing != 0 {
			t.Errorf("requests with an expired token %d, an unknown one %d, none %d; want 0", c.Expired, c.Unknown, c.Missing)
		}
		if c.Distinct < 3 {
			t.Errorf("%d distinct tokens in 20 s of 5 s tokens, want at least 3", c.Distinct)
		}
		// No request waited for the slow metadata server.
		if s.MaxLatenessMS >= float64(slowMetadata.Milliseconds()) {
			t.Fatalf("max lateness %.3f ms with auth: a request waited for a refresh", s.MaxLatenessMS)
		}
		pl := plain.Summary.MaxLatenessMS
		limit := max(2*pl, pl+20)
		if s.MaxLatenessMS <= limit {
			return
		}
		if attempt == 2 {
			t.Errorf("max lateness %.3f ms with auth, %.3f ms without (limit %.3f ms), twice", s.MaxLatenessMS, pl, limit)
			return
		}
		t.Logf("max lateness %.3f ms with auth over %.3f ms: once more", s.MaxLatenessMS, limit)
	}
}
