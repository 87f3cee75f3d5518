package e2e

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cicadaload/cicada/internal/devenv/cluster"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/report"
)

// missingTopology asks the cluster's Pub/Sub emulator which topics and
// subscriptions are missing.
func (e *env) missingTopology(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := bus.NewPubSub(ctx, e.c.Project, bus.EmulatorOptions(e.c.PubSubHost)...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	missing, err := bus.Missing(ctx, admin)
	if err != nil {
		t.Fatalf("ask the emulator for the topology: %v", err)
	}
	return missing
}

// logLines counts the lines of process name's log.
func (e *env) logLines(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(e.c.LogPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// maxLogLinesAfterRestart bounds what a component may log from the
// emulator restart to the end of the next run (about 10 s): a pull loop
// that retried without pause would log thousands of lines.
const maxLogLinesAfterRestart = 300

// TestPubSubRestartMidRun restarts the Pub/Sub emulator in the middle of
// a run, which loses every topic, subscription and message, and submits
// another run right after: the trigger and the aggregator (CICADA_SETUP)
// set the topology up again as soon as they find it missing, the workers
// reconnect, and the next run completes with every slice and its report,
// with no manual step. The run under way ends with a report too.
func TestPubSubRestartMidRun(t *testing.T) {
	e := startCluster(t)
	const rate = 50.0
	first, firstPlan, _ := e.submit(t, planJSON(e.c.PredictURL+"/v1/predict", 2, rate, 8*time.Second))

	// In the middle of the first run, with slices being written.
	e.waitSlices(t, first.RunID, 1, first.StartAt.Add(2*sliceLen+sliceLen/2))
	pullers := append([]string{cluster.NameAggregator}, e.c.Workers...)
	linesBefore := map[string]int{}
	for _, n := range append(slices.Clone(pullers), cluster.NameTrigger) {
		linesBefore[n] = e.logLines(t, n)
	}
	restartedAt := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.c.Restart(ctx, cluster.NamePubSub); err != nil {
		t.Fatalf("restart the Pub/Sub emulator: %v", err)
	}
	back := time.Now()
	t.Logf("Pub/Sub emulator stopped and answering again after %v, %v into the first run; it lacks %v",
		back.Sub(restartedAt).Round(time.Millisecond), restartedAt.Sub(first.StartAt).Round(time.Millisecond), e.missingTopology(t))

	// Right away, a second run: accepted, and every shard published.
	next, nextPlan, posted := e.submit(t, planJSON(e.c.PredictURL+"/v1/predict", 2, rate, 3*time.Second))
	t.Logf("second run accepted %v after the emulator answered", posted.Sub(back).Round(time.Millisecond))
	if next.Note != "" {
		t.Errorf("second run accepted with a note: %s", next.Note)
	}
	if missing := e.missingTopology(t); len(missing) > 0 {
		t.Errorf("topology still lacks %v after a run was accepted", missing)
	}

	f := e.waitFinal(t, next.RunID, 45*time.Second)
	rep := e.report(t, next.RunID)
	ck := checkRun(t, rep, nextPlan, e.slices(t, next.RunID))
	t.Logf("second run: phase %s, status %s, slices %d/%d, report %v after its end",
		f.status.Phase, rep.Status, rep.Coverage.Received, rep.Coverage.Expected, f.reportSeen.Sub(next.StartAt.Add(nextPlan.Duration())).Round(time.Millisecond))
	if rep.Status != report.StatusCompleted || len(ck.missing) > 0 {
		t.Errorf("second run %s with slices missing %v, want completed with every slice", rep.Status, ck.missing)
	}

	// Every component lived through the restart, and none spun.
	for _, n := range append(slices.Clone(pullers), cluster.NameTrigger) {
		if !e.c.Alive(n) {
			t.Errorf("%s died after the emulator restart", n)
		}
		logged := e.logLines(t, n) - linesBefore[n]
		t.Logf("%s logged %d lines from the restart to the second run's report", n, logged)
		if logged > maxLogLinesAfterRestart {
			t.Errorf("%s logged %d lines after the restart, want at most %d: a loop without pause?", n, logged, maxLogLinesAfterRestart)
		}
	}

	// The first run's workers kept their leases through the restart: it
	// ends with a report that agrees with its slice objects.
	f = e.waitFinal(t, first.RunID, 45*time.Second)
	rep = e.report(t, first.RunID)
	ck = checkRun(t, rep, firstPlan, e.slices(t, first.RunID))
	t.Logf("first run: phase %s, status %s, slices %d/%d, missing %v", f.status.Phase, rep.Status, rep.Coverage.Received, rep.Coverage.Expected, ck.missing)
}
