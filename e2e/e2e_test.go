package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/cluster"
	"github.com/cicadaload/cicada/internal/devenv/emulator"
	"github.com/cicadaload/cicada/internal/devenv/proc"
	"github.com/cicadaload/cicada/shared/lease"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// Timings short enough for a test: a killed worker's lease lapses within
// 4 s and the aggregator notices within a second more (startCluster);
// withDefaultLeases keeps the workers' own lease settings instead.
const (
	leadTime   = 3 * time.Second
	sliceLen   = time.Second
	resumeWait = 10 * time.Second // bound on a resume after kill -9 at default settings
	timerGrid  = 2 * time.Millisecond
)

// env is a cluster under test and its bucket.
type env struct {
	c  *cluster.Cluster
	st store.Store
}

// startCluster brings a cluster up on free ports in a temporary directory
// and stops it when the test ends, checking that nothing is left. opts
// change the test's short timings.
func startCluster(t *testing.T, opts ...func(*cluster.Options)) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test on the emulators: not with -short")
	}
	ports, err := cluster.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	o := cluster.Options{
		Dir: dir, Ports: ports,
		LeadTime: leadTime, LeaseTTL: 4 * time.Second, RenewEvery: time.Second,
		Sweep: time.Second, Republish: 2 * time.Second, Grace: 5 * time.Second,
		PickupGrace: 3 * time.Second, LiveEvery: 500 * time.Millisecond,
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := cluster.Up(ctx, o)
	if errors.Is(err, cluster.ErrEmulator) {
		emulator.Require(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))
	var pids []int
	for _, n := range c.Names() {
		if pid, err := c.PID(n); err == nil {
			pids = append(pids, pid)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Names() {
				t.Logf("--- tail of %s ---\n%s", n, tailFile(c.LogPath(n), 30))
			}
		}
		if err := cluster.Down(c.Dir); err != nil {
			t.Errorf("Down: %v", err)
		}
		for _, pid := range pids {
			if proc.GroupAlive(pid) {
				t.Errorf("process group %d left after Down", pid)
			}
		}
		// The gcloud wrapper's Java child, found by its command line.
		if java := commandsWith("cloud-pubsub-emulator", fmt.Sprintf("--port=%d", ports.PubSub)); len(java) > 0 {
			t.Errorf("Pub/Sub emulator left after Down: %v", java)
		}
	})
	st, closeStore, err := c.OpenStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeStore)
	return &env{c: c, st: st}
}

// withDefaultLeases runs the workers with their default lease settings
// (CICADA_WORKER_LEASE_TTL, CICADA_WORKER_RENEW_EVERY) and the aggregator
// with a sweep of 2 s, its default: a resume after kill -9 then takes as
// long as in a deployment.
func withDefaultLeases(o *cluster.Options) {
	o.LeaseTTL, o.RenewEvery = 0, 0
	o.Sweep, o.Republish = 2*time.Second, 2*time.Second
}

// planJSON is an open-model plan at the cluster's predict service, with
// its texts inline (the trigger refuses data.file).
func planJSON(url string, shards int, rate float64, dur time.Duration) string {
	return planJSONWith(url, shards, rate, dur, "")
}

// planJSONWith is planJSON with more top-level fields (`"a": 1, "b": 2`).
func planJSONWith(url string, shards int, rate float64, dur time.Duration, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`{"name": "e2e", "target": {"protocol": "http", "url": %q, "body": "{\"text\": {{json .Text}}}",
		"expect_status": [200], "timeout": "2s", "connections": 4},
		"data": {"texts": ["the striker scored twice", "shares fell after the earnings", "a new chip doubles battery life"]},
		"load": {"model": "open", "stages": [{"duration": %q, "rate": %g}], "max_in_flight": 50},
		"slice": %q, "shards": %d%s}`, url, dur.String(), rate, sliceLen.String(), shards, extra)
}

// sharedMachineLateness is the max_lateness of a plan whose verdict a test
// checks: on a machine shared with other work (two cores, a Java emulator)
// a worker that wakes from a sleep may wait tens of milliseconds for a CPU,
// which the default 50 ms would judge a saturated generator.
const sharedMachineLateness = 250 * time.Millisecond

// api is the trigger's client, as the CLI uses it.
func (e *env) api() *triggerapi.Client { return triggerapi.New(e.c.TriggerURL) }

// submit posts a plan as curl would, and returns the answer and when the
// request was sent.
func (e *env) submit(t *testing.T, body string) (triggerapi.Accepted, *plan.Plan, time.Time) {
	t.Helper()
	p, err := plan.Parse([]byte(body), "json")
	if err != nil {
		t.Fatalf("test plan: %v", err)
	}
	sent := time.Now()
	acc, err := e.api().Submit(context.Background(), []byte(body), "application/json", "")
	if err != nil {
		t.Fatalf("POST /runs: %v", err)
	}
	t.Logf("run %s accepted in %v, starts at %s", acc.RunID, time.Since(sent).Round(time.Millisecond), acc.StartAt.Format(time.StampMilli))
	return acc, p, sent
}

// getJSON GETs url into v and returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// finish is what waitFinal saw of a run's end, by polling the bucket
// every 50 ms: the bucket's own timestamps are too coarse to measure the
// pipeline's overheads.
type finish struct {
	status     triggerapi.Status
	lastSlice  time.Time // when the last new slice object was seen
	reportSeen time.Time // when report.json was seen
}

// waitFinal polls the run's objects until report.json is there, within a
// bound, then checks that the trigger tells a final phase.
func (e *env) waitFinal(t *testing.T, id string, within time.Duration) finish {
	t.Helper()
	var f finish
	deadline := time.Now().Add(within)
	seen := 0
	for {
		names, err := e.st.List(context.Background(), runs.Prefix(id))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		n := 0
		for _, name := range names {
			if strings.HasPrefix(name, runs.SlicePrefix(id)) {
				n++
			}
		}
		if n > seen {
			seen, f.lastSlice = n, now
		}
		if slices.Contains(names, runs.ReportPath(id, "report.json")) {
			f.reportSeen = now
			break
		}
		if now.After(deadline) {
			st, _ := e.api().Status(context.Background(), id)
			t.Fatalf("run %s not finished within %v: phase %s, %d/%d shards done", id, within, st.Phase, st.ShardsDone, st.Shards)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var err error
	if f.status, err = e.api().Status(context.Background(), id); err != nil {
		t.Fatalf("GET /runs/%s: %v", id, err)
	}
	switch f.status.Phase {
	case triggerapi.PhaseDone, triggerapi.PhaseFailed, triggerapi.PhaseCancelled:
	default:
		t.Errorf("phase %s with report.json written, want a final phase", f.status.Phase)
	}
	if !f.status.HasReport() {
		t.Errorf("status links %v: no report.json", f.status.Links)
	}
	return f
}

// report downloads report.json through the trigger.
func (e *env) report(t *testing.T, id string) *report.Report {
	t.Helper()
	rep, err := e.api().Report(context.Background(), id)
	if err != nil {
		t.Fatalf("GET /runs/%s/report.json: %v", id, err)
	}
	return rep
}

// storedSlice is a slice object.
type storedSlice struct{ *slice.Result }

// slices reads every slice object of a run, checking that each holds the
// shard and slice its name says: the name is the write-once key, so a slice
// counted twice would have to hide under another name.
func (e *env) slices(t *testing.T, id string) []storedSlice {
	t.Helper()
	ctx := context.Background()
	names, err := e.st.List(ctx, runs.SlicePrefix(id))
	if err != nil {
		t.Fatal(err)
	}
	var out []storedSlice
	for _, n := range names {
		shard, k, err := runs.ParseSlicePath(id, n)
		if err != nil {
			t.Errorf("unexpected object %s: %v", n, err)
			continue
		}
		obj, err := e.st.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		r, err := slice.Unmarshal(obj.Data)
		if err != nil {
			t.Errorf("slice %s: %v", n, err)
			continue
		}
		if r.Shard != shard || r.Index != k || r.RunID != id {
			t.Errorf("%s holds run %s shard %d slice %d", n, r.RunID, r.Shard, r.Index)
		}
		out = append(out, storedSlice{r})
	}
	return out
}

// holders reads the shards' lease records.
func (e *env) holders(t *testing.T, id string, shards int) map[int]lease.Record {
	t.Helper()
	out := map[int]lease.Record{}
	for s := range shards {
		obj, err := e.st.Get(context.Background(), runs.LeasePath(id, s))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var rec lease.Record
		if err := json.Unmarshal(obj.Data, &rec); err != nil {
			t.Fatalf("lease of shard %d: %v", s, err)
		}
		out[s] = rec
	}
	return out
}

// workerOf is the worker of a lease holder "worker-2#3" (one attempt).
func workerOf(holder string) string {
	w, _, _ := strings.Cut(holder, "#")
	return w
}

// predictRequests is the predict service's own count of requests.
func (e *env) predictRequests(t *testing.T) int64 {
	t.Helper()
	var st struct {
		Requests int64 `json:"requests"`
	}
	if code := getJSON(t, e.c.PredictURL+"/v1/stats", &st); code != http.StatusOK {
		t.Fatalf("GET /v1/stats = %d", code)
	}
	return st.Requests
}

// waitSlices waits until a slice of index at least k is written and it is
// at least at.
func (e *env) waitSlices(t *testing.T, id string, k int, at time.Time) {
	t.Helper()
	deadline := at.Add(10 * time.Second)
	for {
		names, err := e.st.List(context.Background(), runs.SlicePrefix(id))
		if err != nil {
			t.Fatal(err)
		}
		written := false
		for _, n := range names {
			if _, i, err := runs.ParseSlicePath(id, n); err == nil && i >= k {
				written = true
			}
		}
		now := time.Now()
		if written && !now.Before(at) {
			return
		}
		if now.After(deadline) {
			t.Fatalf("no slice %d or later written by %v: the run is not going (%d slice objects)", k, deadline.Format(time.StampMilli), len(names))
		}
		time.Sleep(min(50*time.Millisecond, max(at.Sub(now), time.Millisecond)))
	}
}

// checked is what checkRun found.
type checked struct {
	missing map[int][]int // shard -> missing slices, sorted
	bySlot  map[[2]int]storedSlice
}

// checkRun asserts what holds of every run, whatever happened to its
// workers: each (shard, slice) stored once; the report's coverage is the
// set of slice objects; its totals are their sums; no errors.
func checkRun(t *testing.T, rep *report.Report, p *plan.Plan, sl []storedSlice) checked {
	t.Helper()
	ck := checked{missing: map[int][]int{}, bySlot: map[[2]int]storedSlice{}}
	var sum report.Summary
	for _, s := range sl {
		key := [2]int{s.Shard, s.Index}
		if _, dup := ck.bySlot[key]; dup {
			t.Errorf("shard %d slice %d stored twice", s.Shard, s.Index)
		}
		ck.bySlot[key] = s
		sum.Intended += s.Intended
		sum.Sent += s.Sent
		sum.Completed += s.Completed
		sum.Dropped += s.Dropped
		sum.Errors += s.Errors
	}
	if rep.Summary.Intended != sum.Intended || rep.Summary.Sent != sum.Sent || rep.Summary.Completed != sum.Completed ||
		rep.Summary.Dropped != sum.Dropped || rep.Summary.Errors != sum.Errors {
		t.Errorf("report totals intended/sent/completed/dropped/errors = %d/%d/%d/%d/%d, slice objects sum to %d/%d/%d/%d/%d",
			rep.Summary.Intended, rep.Summary.Sent, rep.Summary.Completed, rep.Summary.Dropped, rep.Summary.Errors,
			sum.Intended, sum.Sent, sum.Completed, sum.Dropped, sum.Errors)
	}
	if rep.Summary.Errors != 0 || rep.Summary.Dropped != 0 {
		t.Errorf("errors %d, dropped %d; want none against a local predict service (outcomes %v, samples: %v)", rep.Summary.Errors, rep.Summary.Dropped, rep.Summary.Outcomes, rep.Summary.SampleErrors)
	}
	if rep.Coverage == nil {
		t.Fatal("report without coverage")
	}
	if want := p.Shards * p.NumSlices(); rep.Coverage.Expected != want {
		t.Errorf("coverage expected %d slices, want %d", rep.Coverage.Expected, want)
	}
	if rep.Coverage.Received != len(sl) || len(rep.Coverage.Corrupt) != 0 {
		t.Errorf("coverage received %d (corrupt %v), the bucket holds %d slices", rep.Coverage.Received, rep.Coverage.Corrupt, len(sl))
	}
	var want []report.ShardSlice
	for shard := range p.Shards {
		for k := range p.NumSlices() {
			if _, ok := ck.bySlot[[2]int{shard, k}]; !ok {
				ck.missing[shard] = append(ck.missing[shard], k)
				want = append(want, report.ShardSlice{Shard: shard, Slice: k})
			}
		}
	}
	got := slices.Clone(rep.Coverage.Missing)
	slices.SortFunc(got, func(a, b report.ShardSlice) int { return a.Shard*1_000_000 + a.Slice - b.Shard*1_000_000 - b.Slice })
	if !slices.Equal(got, want) {
		t.Errorf("report's missing slices %v, the bucket lacks %v", got, want)
	}
	switch {
	case len(want) == 0 && rep.Status != report.StatusCompleted:
		t.Errorf("status %s with every slice there, want completed", rep.Status)
	case len(want) > 0 && rep.Status != report.StatusIncomplete:
		t.Errorf("status %s with %d slices missing, want incomplete", rep.Status, len(want))
	}
	return ck
}

// checkResumed asserts that each shard of the victim misses only a run of
// slices within [from, to], and that every slice after it was written by
// another worker; it returns the first slice after each gap.
func checkResumed(t *testing.T, ck checked, p *plan.Plan, victim string, victimShards []int, from, to int) map[int]int {
	t.Helper()
	resumed := map[int]int{}
	for shard, miss := range ck.missing {
		if !slices.Contains(victimShards, shard) {
			t.Errorf("shard %d, not the victim's, misses slices %v", shard, miss)
		}
	}
	for _, shard := range victimShards {
		miss := ck.missing[shard]
		for i, k := range miss {
			if k < from || k > to {
				t.Errorf("shard %d misses slice %d, outside [%d, %d]", shard, k, from, to)
			}
			if i > 0 && k != miss[i-1]+1 {
				t.Errorf("shard %d misses slices %v: not one gap", shard, miss)
			}
		}
		next := from
		if len(miss) > 0 {
			next = miss[len(miss)-1] + 1
		}
		if next >= p.NumSlices() {
			t.Errorf("shard %d was never resumed: slices %v missing up to the end", shard, miss)
			continue
		}
		resumed[shard] = next
		for k := range p.NumSlices() {
			s, ok := ck.bySlot[[2]int{shard, k}]
			switch {
			case !ok:
			case k < from && s.Writer != victim:
				t.Errorf("shard %d slice %d written by %s before the stop, want %s", shard, k, s.Writer, victim)
			case k >= next && s.Writer == victim:
				t.Errorf("shard %d slice %d written by %s after it stopped", shard, k, s.Writer)
			}
		}
	}
	return resumed
}

// logOverheads prints the pipeline's own overheads for the closing note:
// POST to first request, skew of slice 0 across shards, last slice to
// report.
func logOverheads(t *testing.T, acc triggerapi.Accepted, p *plan.Plan, posted time.Time, ck checked, f finish) {
	t.Helper()
	sched := p.Schedule()
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline overheads (real emulators, separate processes):\n")
	accept := acc.StartAt.Sub(posted) - leadTime
	fmt.Fprintf(&b, "  POST /runs -> start_at: %v = lead time %v + %v\n", acc.StartAt.Sub(posted).Round(time.Millisecond), leadTime, accept.Round(time.Millisecond))
	first := time.Duration(1<<62 - 1)
	var maxLat, minLat, maxMean, minMean time.Duration
	n := 0
	for shard := range p.Shards {
		s, ok := ck.bySlot[[2]int{shard, 0}]
		if !ok || s.Sent == 0 {
			fmt.Fprintf(&b, "  shard %d: no slice 0\n", shard)
			continue
		}
		lat := time.Duration(s.MaxLatenessUS) * time.Microsecond
		mean := time.Duration(s.SumLatenessUS/s.Sent) * time.Microsecond
		fmt.Fprintf(&b, "  shard %d slice 0 (writer %s): lateness max %v mean %v\n", shard, s.Writer, lat, mean)
		// The first request of a shard is due at its first arrival; it
		// was sent at most lat after that.
		first = min(first, sched.Shard(shard, p.Shards).Arrival(0)+lat)
		if n == 0 {
			maxLat, minLat, maxMean, minMean = lat, lat, mean, mean
		}
		maxLat, minLat, maxMean, minMean = max(maxLat, lat), min(minLat, lat), max(maxMean, mean), min(minMean, mean)
		n++
	}
	if n > 0 {
		fmt.Fprintf(&b, "  POST /runs -> first request sent: <= %v, beyond the lead time <= %v\n",
			(acc.StartAt.Add(first).Sub(posted)).Round(time.Millisecond), (acc.StartAt.Add(first).Sub(posted) - leadTime).Round(time.Millisecond))
		fmt.Fprintf(&b, "  skew of slice 0's start across shards: max lateness spread %v, mean lateness spread %v\n", maxLat-minLat, maxMean-minMean)
	}
	end := acc.StartAt.Add(p.Duration())
	fmt.Fprintf(&b, "  last slice's end -> last slice object seen: %v\n", f.lastSlice.Sub(end).Round(time.Millisecond))
	fmt.Fprintf(&b, "  last slice object -> report.json seen: %v\n", f.reportSeen.Sub(f.lastSlice).Round(time.Millisecond))
	fmt.Fprintf(&b, "  last slice's end -> report.json seen: %v (bucket polled every 50 ms)\n", f.reportSeen.Sub(end).Round(time.Millisecond))
	t.Log(b.String())
}

// TestKill9WorkerMidRun kills a worker with SIGKILL in mid-run: its shards
// resume on another worker within the lease's lapse, inside a slice (the
// first slice after the gap starts when the successor did), the slices it
// was driving show as one gap, nothing is counted twice, and the target saw
// what the report says was sent, plus what the dead worker sent in the
// slice it never wrote.
func TestKill9WorkerMidRun(t *testing.T) {
	e := startCluster(t)
	const shards, rate, dur = 3, 200.0, 16 * time.Second
	acc, p, posted := e.submit(t, planJSON(e.c.PredictURL+"/v1/predict", shards, rate, dur))

	// In the middle of slice 4, with slices being written.
	e.waitSlices(t, acc.RunID, 2, acc.StartAt.Add(4*sliceLen+sliceLen/2))
	leases := e.holders(t, acc.RunID, shards)
	rec, ok := leases[0]
	if !ok || !rec.Live(time.Now()) {
		t.Fatalf("shard 0 has no live lease: %+v", leases)
	}
	victim := workerOf(rec.Holder)
	var victimShards []int
	for s, r := range leases {
		if workerOf(r.Holder) == victim && r.Live(time.Now()) {
			victimShards = append(victimShards, s)
		}
	}
	slices.Sort(victimShards)
	killedFrom := time.Now()
	if err := e.c.Kill9(victim); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	killSlice := int(killedFrom.Sub(acc.StartAt) / sliceLen)
	t.Logf("kill -9 %s (shards %v) at %v into the run, slice %d", victim, victimShards, killedFrom.Sub(acc.StartAt).Round(time.Millisecond), killSlice)
	if e.c.Alive(victim) {
		t.Fatalf("%s still alive after kill -9", victim)
	}

	// The run ends 16 s after its start; the resumed shards finish with
	// it, and the report follows within seconds.
	f := e.waitFinal(t, acc.RunID, 60*time.Second)
	rep := e.report(t, acc.RunID)
	sl := e.slices(t, acc.RunID)
	ck := checkRun(t, rep, p, sl)
	t.Logf("phase %s, status %s, slices %d/%d, missing %v", f.status.Phase, rep.Status, rep.Coverage.Received, rep.Coverage.Expected, rep.Coverage.Missing)

	// The kill slice itself can never be written: its writer died in it.
	for _, s := range victimShards {
		if !slices.Contains(ck.missing[s], killSlice) {
			t.Errorf("shard %d has slice %d, which %s was driving when killed", s, killSlice, victim)
		}
	}
	window := int(resumeWait / sliceLen)
	resumed := checkResumed(t, ck, p, victim, victimShards, killSlice, killSlice+window)
	checkResumeDelay(t, e, acc, p, ck, victimShards, resumed, killedFrom)

	// The target saw every request the report counts, plus those the
	// victim sent in the slice it never wrote: no more than were due in
	// that slice up to the kill (an open model never sends ahead of its
	// schedule by more than the engine's 2 ms timer grid).
	got := e.predictRequests(t)
	sched := p.Schedule()
	var bound, inFlightCap int64
	for _, s := range victimShards {
		sh := sched.Shard(s, shards)
		bound += sh.CountBefore(killed.Sub(acc.StartAt)+timerGrid) - sh.CountBefore(time.Duration(killSlice)*sliceLen)
		inFlightCap += int64(p.Load.MaxInFlight)
	}
	diff := got - rep.Summary.Sent
	t.Logf("predict counted %d requests, the report %d sent: %d sent by %s in its unwritten slice (bound %d; max_in_flight of its shards %d)",
		got, rep.Summary.Sent, diff, victim, bound, inFlightCap)
	if diff < 0 || diff > bound {
		t.Errorf("predict counted %d requests, the report %d sent: difference %d, want within [0, %d]", got, rep.Summary.Sent, diff, bound)
	}
	logOverheads(t, acc, p, posted, ck, f)
}

// checkResumeDelay asserts that each shard of victimShards was driven again
// within resumeWait of killedFrom: the first slice after its gap starts
// when its successor sent its first request (a slice resumed inside
// starts late, slice.Result.Start), and logs how long each step took.
func checkResumeDelay(t *testing.T, e *env, acc triggerapi.Accepted, p *plan.Plan, ck checked, victimShards []int, resumed map[int]int, killedFrom time.Time) {
	t.Helper()
	after := e.holders(t, acc.RunID, p.Shards)
	for _, s := range victimShards {
		k, ok := resumed[s]
		if !ok {
			continue
		}
		sl := ck.bySlot[[2]int{s, k}]
		whole := acc.StartAt.Add(time.Duration(k) * sliceLen)
		at := sl.Start
		if at.Before(whole) || !at.Before(whole.Add(sliceLen)) {
			t.Errorf("shard %d slice %d starts %v into the run, outside the slice", s, k, at.Sub(acc.StartAt))
		}
		if at.Sub(killedFrom) > resumeWait {
			t.Errorf("shard %d driven again %v after the kill (slice %d from %v into the run); want within %v",
				s, at.Sub(killedFrom).Round(time.Millisecond), k, at.Sub(acc.StartAt).Round(time.Millisecond), resumeWait)
		}
		t.Logf("shard %d: gap %v (%d slices); lease taken over by %s %v after the kill; driven again %v after the kill, inside slice %d (writer %s, %s, first request late by at most %v)",
			s, ck.missing[s], len(ck.missing[s]), after[s].Holder, after[s].Acquired.Sub(killedFrom).Round(time.Millisecond),
			at.Sub(killedFrom).Round(time.Millisecond), k, sl.Writer, partial(sl, whole), time.Duration(sl.MaxLatenessUS)*time.Microsecond)
	}
}

func partial(s storedSlice, whole time.Time) string {
	if s.Start.Equal(whole) {
		return "whole slice"
	}
	return fmt.Sprintf("partial, from %v into it", s.Start.Sub(whole).Round(time.Millisecond))
}

// shardsOf returns the shards whose live lease worker holds, sorted.
func shardsOf(leases map[int]lease.Record, worker string, now time.Time) []int {
	var out []int
	for s, r := range leases {
		if workerOf(r.Holder) == worker && r.Live(now) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// waitPlaced waits until every shard has a live lease and each worker
// holds perWorker of them.
func (e *env) waitPlaced(t *testing.T, id string, shards, perWorker int) map[int]lease.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		leases := e.holders(t, id, shards)
		count := map[string]int{}
		live := 0
		for _, r := range leases {
			if r.Live(time.Now()) {
				live++
				count[workerOf(r.Holder)]++
			}
		}
		even := live == shards
		for _, n := range count {
			even = even && n == perWorker
		}
		if even {
			return leases
		}
		if time.Now().After(deadline) {
			t.Fatalf("shards not placed %d per worker within 15 s: %d live leases, by worker %v", perWorker, live, count)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSigtermWorkerHandsOver stops a worker with SIGTERM in mid-slice, as
// Kubernetes stops a pod, then its successor of shard 0 too (a rolling
// restart): each announces a slice boundary about two seconds ahead, drives
// its shards until then, and a successor starts at that boundary. No slice
// is missing, the verdict is pass, and the target saw exactly what the
// report counts.
func TestSigtermWorkerHandsOver(t *testing.T) {
	e := startCluster(t)
	const shards, rate, dur = 3, 150.0, 16 * time.Second
	acc, p, _ := e.submit(t, planJSONWith(e.c.PredictURL+"/v1/predict", shards, rate, dur,
		fmt.Sprintf(`"max_lateness": %q`, sharedMachineLateness.String())))

	e.waitSlices(t, acc.RunID, 1, acc.StartAt.Add(3*sliceLen+sliceLen/2))
	type stop struct {
		victim   string
		shards   []int
		at       time.Time
		boundary int // the first slice boundary at least the hand-over lead (2 s) ahead
	}
	var stops []stop
	for round := range 2 {
		if round == 1 {
			// The second victim: whoever drives shard 0 now, in mid-slice.
			now := time.Since(acc.StartAt)
			time.Sleep(sliceLen/2 - now%sliceLen + sliceLen)
		}
		leases := e.holders(t, acc.RunID, shards)
		rec, ok := leases[0]
		if !ok || !rec.Live(time.Now()) {
			t.Fatalf("shard 0 has no live lease: %+v", leases)
		}
		st := stop{victim: workerOf(rec.Holder), shards: shardsOf(leases, workerOf(rec.Holder), time.Now()), at: time.Now()}
		st.boundary = int((st.at.Sub(acc.StartAt) + 2*time.Second + sliceLen - 1) / sliceLen)
		if err := e.c.Terminate(st.victim, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGTERM %s (shards %v) at %v into the run, in slice %d; hand-over at slice %d; it exited %v later",
			st.victim, st.shards, st.at.Sub(acc.StartAt).Round(time.Millisecond), int(st.at.Sub(acc.StartAt)/sliceLen), st.boundary,
			time.Since(st.at).Round(time.Millisecond))
		stops = append(stops, st)
	}

	f := e.waitFinal(t, acc.RunID, 45*time.Second)
	rep := e.report(t, acc.RunID)
	ck := checkRun(t, rep, p, e.slices(t, acc.RunID))
	t.Logf("phase %s, status %s, verdict %s, slices %d/%d, missing %v", f.status.Phase, rep.Status, rep.Verdict, rep.Coverage.Received, rep.Coverage.Expected, rep.Coverage.Missing)
	if len(rep.Coverage.Missing) != 0 || rep.Verdict != report.VerdictPass {
		t.Errorf("missing slices %v, verdict %s (%v); want none missing and pass after graceful stops", rep.Coverage.Missing, rep.Verdict, rep.VerdictReasons)
	}

	// Each victim wrote its shards' slices up to its hand-over boundary
	// (the one it was in at the SIGTERM included), another worker wrote
	// the boundary's slice, whole and on time.
	for _, st := range stops {
		for _, s := range st.shards {
			before := ck.bySlot[[2]int{s, st.boundary - 1}]
			at := ck.bySlot[[2]int{s, st.boundary}]
			if before.Result == nil || at.Result == nil {
				t.Errorf("shard %d: slices %d and %d around the hand-over not both written", s, st.boundary-1, st.boundary)
				continue
			}
			whole := acc.StartAt.Add(time.Duration(st.boundary) * sliceLen)
			late := time.Duration(at.MaxLatenessUS) * time.Microsecond
			if before.Writer != st.victim || at.Writer == st.victim || !at.Start.Equal(whole) {
				t.Errorf("shard %d: slice %d written by %s, slice %d by %s from %v into it; want %s, then its successor from the boundary",
					s, st.boundary-1, before.Writer, st.boundary, at.Writer, at.Start.Sub(whole), st.victim)
			}
			t.Logf("shard %d: %s wrote slice %d, %s took over at slice %d: its first requests late by at most %v (mean %v)",
				s, before.Writer, st.boundary-1, at.Writer, st.boundary, late, time.Duration(at.SumLatenessUS/max(at.Sent, 1))*time.Microsecond)
		}
	}
	// For comparison: how late the generator was in the other slices.
	var other time.Duration
	for key, sl := range ck.bySlot {
		if !slices.ContainsFunc(stops, func(st stop) bool { return key[1] == st.boundary }) {
			other = max(other, time.Duration(sl.MaxLatenessUS)*time.Microsecond)
		}
	}
	t.Logf("max lateness in the slices that are not a hand-over's first: %v", other)
	after := e.holders(t, acc.RunID, shards)
	for s, r := range after {
		from := "its first slice"
		if !r.From.IsZero() {
			from = fmt.Sprintf("%v into the run (a hand-over)", r.From.Sub(acc.StartAt))
		}
		t.Logf("shard %d: last holder %s, took the lease %v into the run, sent from %s", s, r.Holder, r.Acquired.Sub(acc.StartAt).Round(time.Millisecond), from)
	}
	// Nothing sent went unrecorded.
	if got := e.predictRequests(t); got != rep.Summary.Sent {
		t.Errorf("predict counted %d requests, the report %d sent; want equal after graceful stops", got, rep.Summary.Sent)
	}
}

// TestKill9AtCapacity kills a worker of a cluster at full capacity (6
// shards on 3 workers of capacity 2) with the default lease settings: its
// shards are driven again within resumeWait by the survivors, beyond their
// capacity, and only the slices of that window are missing.
func TestKill9AtCapacity(t *testing.T) {
	e := startCluster(t, withDefaultLeases)
	const shards, rate, dur = 6, 60.0, 20 * time.Second
	acc, p, _ := e.submit(t, planJSON(e.c.PredictURL+"/v1/predict", shards, rate, dur))

	leases := e.waitPlaced(t, acc.RunID, shards, 2)
	e.waitSlices(t, acc.RunID, 2, acc.StartAt.Add(4*sliceLen+sliceLen/2))
	victim := workerOf(leases[0].Holder)
	victimShards := shardsOf(e.holders(t, acc.RunID, shards), victim, time.Now())
	killedFrom := e.kill9(t, victim)
	killSlice := int(killedFrom.Sub(acc.StartAt) / sliceLen)
	t.Logf("kill -9 %s (shards %v) at %v into the run, slice %d", victim, victimShards, killedFrom.Sub(acc.StartAt).Round(time.Millisecond), killSlice)

	e.waitFinal(t, acc.RunID, 60*time.Second)
	rep := e.report(t, acc.RunID)
	ck := checkRun(t, rep, p, e.slices(t, acc.RunID))
	t.Logf("status %s, verdict %s, slices %d/%d, missing %v", rep.Status, rep.Verdict, rep.Coverage.Received, rep.Coverage.Expected, rep.Coverage.Missing)
	resumed := checkResumed(t, ck, p, victim, victimShards, killSlice, killSlice+int(resumeWait/sliceLen))
	checkResumeDelay(t, e, acc, p, ck, victimShards, resumed, killedFrom)
	if len(resumed) != len(victimShards) {
		t.Errorf("shards %v resumed of the victim's %v", resumed, victimShards)
	}
}

// TestKill9TwoOfThree kills two of three workers at once: the survivor
// drives every shard again, four of them beyond its capacity.
func TestKill9TwoOfThree(t *testing.T) {
	e := startCluster(t, withDefaultLeases)
	const shards, rate, dur = 6, 60.0, 20 * time.Second
	acc, p, _ := e.submit(t, planJSON(e.c.PredictURL+"/v1/predict", shards, rate, dur))

	leases := e.waitPlaced(t, acc.RunID, shards, 2)
	e.waitSlices(t, acc.RunID, 2, acc.StartAt.Add(4*sliceLen+sliceLen/2))
	survivor := workerOf(leases[0].Holder)
	var victims []string
	var victimShards []int
	leases = e.holders(t, acc.RunID, shards)
	now := time.Now()
	for _, w := range e.c.Workers {
		if w != survivor {
			victims = append(victims, w)
			victimShards = append(victimShards, shardsOf(leases, w, now)...)
		}
	}
	slices.Sort(victimShards)
	killedFrom := time.Now()
	for _, v := range victims {
		e.kill9(t, v)
	}
	killSlice := int(killedFrom.Sub(acc.StartAt) / sliceLen)
	t.Logf("kill -9 %v (shards %v) at %v into the run, slice %d; %s survives", victims, victimShards, killedFrom.Sub(acc.StartAt).Round(time.Millisecond), killSlice, survivor)

	e.waitFinal(t, acc.RunID, 60*time.Second)
	rep := e.report(t, acc.RunID)
	ck := checkRun(t, rep, p, e.slices(t, acc.RunID))
	t.Logf("status %s, verdict %s, slices %d/%d, missing %v", rep.Status, rep.Verdict, rep.Coverage.Received, rep.Coverage.Expected, rep.Coverage.Missing)
	resumed := map[int]int{}
	for _, v := range victims {
		for s, k := range checkResumedBy(t, ck, p, v, shardsOf(leases, v, now), killSlice, killSlice+int(resumeWait/sliceLen)) {
			resumed[s] = k
		}
	}
	checkResumeDelay(t, e, acc, p, ck, victimShards, resumed, killedFrom)
	for _, s := range victimShards {
		k, ok := resumed[s]
		if !ok {
			t.Errorf("shard %d never driven again", s)
			continue
		}
		if w := ck.bySlot[[2]int{s, k}].Writer; w != survivor {
			t.Errorf("shard %d resumed by %s, want the survivor %s", s, w, survivor)
		}
	}
}

// checkResumedBy is checkResumed for one of several victims: only its own
// shards' gaps are looked at.
func checkResumedBy(t *testing.T, ck checked, p *plan.Plan, victim string, victimShards []int, from, to int) map[int]int {
	t.Helper()
	own := checked{missing: map[int][]int{}, bySlot: ck.bySlot}
	for _, s := range victimShards {
		if m, ok := ck.missing[s]; ok {
			own.missing[s] = m
		}
	}
	return checkResumed(t, own, p, victim, victimShards, from, to)
}

// kill9 kills worker w with SIGKILL and returns when the kill was sent.
func (e *env) kill9(t *testing.T, w string) time.Time {
	t.Helper()
	at := time.Now()
	if err := e.c.Kill9(w); err != nil {
		t.Fatal(err)
	}
	if e.c.Alive(w) {
		t.Fatalf("%s still alive after kill -9", w)
	}
	return at
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// commandsWith lists the live processes whose command line holds every one
// of parts, as pgrep -f would.
func commandsWith(parts ...string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a zombie
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, p := range parts {
			all = all && strings.Contains(cmd, p)
		}
		if all {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}
