// Package runs is the shape of a run in the bucket and on the bus: object
// names (the bucket layout of docs/bucket-layout.md), the shard work
// message, the worker event, and the records stored beside the slices.
package runs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Object names of a run.
func Prefix(id string) string               { return "runs/" + id + "/" }
func PlanPath(id string) string             { return Prefix(id) + "plan.json" }
func RunPath(id string) string              { return Prefix(id) + "run.json" }
func LeasePath(id string, shard int) string { return fmt.Sprintf("%sleases/%d", Prefix(id), shard) }
func SlicePrefix(id string) string          { return Prefix(id) + "slices/" }
func SlicePath(id string, shard, k int) string {
	return fmt.Sprintf("%s%d/%d.pb", SlicePrefix(id), shard, k)
}
func DonePath(id string, shard int) string { return fmt.Sprintf("%sshards/%d.done", Prefix(id), shard) }
func CancelPath(id string) string          { return Prefix(id) + "cancel" }
func LivePath(id string) string            { return Prefix(id) + "live.json" }
func ReportPath(id, file string) string    { return Prefix(id) + file } // report.json, summary.txt, ...

// ParseSlicePath returns the shard and slice of a slice object name.
func ParseSlicePath(id, name string) (shard, k int, err error) {
	rest, ok := strings.CutPrefix(name, SlicePrefix(id))
	if !ok {
		return 0, 0, fmt.Errorf("slice object %q: not under %s", name, SlicePrefix(id))
	}
	s, f, ok := strings.Cut(rest, "/")
	f, ok2 := strings.CutSuffix(f, ".pb")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("slice object %q: want <shard>/<slice>.pb", name)
	}
	if shard, err = strconv.Atoi(s); err != nil || shard < 0 {
		return 0, 0, fmt.Errorf("slice object %q: bad shard %q", name, s)
	}
	if k, err = strconv.Atoi(f); err != nil || k < 0 {
		return 0, 0, fmt.Errorf("slice object %q: bad slice %q", name, f)
	}
	return shard, k, nil
}

// Run is run.json: what the trigger fixed when it accepted the plan.
type Run struct {
	ID       string    `json:"run_id"`
	PlanName string    `json:"plan_name"`
	Shards   int       `json:"shards"`
	Created  time.Time `json:"created"`
	StartAt  time.Time `json:"start_at"`
	// End is StartAt plus the plan's duration: no request is intended
	// after it.
	End time.Time `json:"end"`
	// IdempotencyKey, when the trigger was given one.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// ShardWork is the body of a message on the shards topic: drive one shard.
type ShardWork struct {
	RunID string `json:"run_id"`
	Shard int    `json:"shard"`
	// Reason says why it was published: "start", or "resume" by the
	// aggregator's failure detector.
	Reason string `json:"reason,omitempty"`
}

// Event types a worker publishes.
const (
	EventLeased = "leased" // took a shard's lease
	EventSlice  = "slice"  // wrote a slice
	EventDone   = "done"   // wrote a shard's done marker
	EventLost   = "lost"   // lost a lease and stopped
)

// Event is the body of a message on the events topic.
type Event struct {
	Type   string    `json:"type"`
	RunID  string    `json:"run_id"`
	Shard  int       `json:"shard"`
	Slice  int       `json:"slice,omitempty"`
	Worker string    `json:"worker"`
	Time   time.Time `json:"time"`
}

// Cancel is the cancel marker's content (CancelPath). The trigger writes it
// for a user's cancel; the aggregator writes it with a Reason when it aborts
// a run on a failing per-slice threshold.
type Cancel struct {
	CancelledAt time.Time `json:"cancelled_at"`
	Reason      string    `json:"reason,omitempty"`
}

// Encode marshals v for the bus; the message types above cannot fail.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("runs: encode %T: %v", v, err)) // only on programming errors
	}
	return b
}
