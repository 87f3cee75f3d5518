// Package runs is the shape of a run in the bucket and on the bus: object
// names (the bucket layout of docs/bucket-layout.md), the shard work
// message, the worker event, and the records stored beside the slices.
package runs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Root is the prefix of every run's objects: listing it lists every run.
const Root = "runs/"

// ActivePrefix lists the runs that have no final report yet: the trigger
// writes ActivePath(id) when it accepts a run and the aggregator deletes it
// once the report is written, so that finding active runs is one short
// listing, not a listing of every object of every run.
const ActivePrefix = "active/"

// ActivePath is run id's marker under ActivePrefix.
func ActivePath(id string) string { return ActivePrefix + id }

// ParseActivePath returns the run id of an active-run marker.
func ParseActivePath(name string) (string, error) {
	id, ok := strings.CutPrefix(name, ActivePrefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("active-run marker %q: want %s<run id>", name, ActivePrefix)
	}
	return id, nil
}

// Object names of a run. Every name in the bucket is built here, and read
// back by the Parse functions below and RunIDFromPath.
func Prefix(id string) string               { return Root + id + "/" }
func PlanPath(id string) string             { return Prefix(id) + "plan.json" }
func RunPath(id string) string              { return Prefix(id) + "run.json" }
func LeasePrefix(id string) string          { return Prefix(id) + "leases/" }
func LeasePath(id string, shard int) string { return LeasePrefix(id) + strconv.Itoa(shard) }
func SlicePrefix(id string) string          { return Prefix(id) + "slices/" }
func ShardSlicePrefix(id string, shard int) string {
	return SlicePrefix(id) + strconv.Itoa(shard) + "/"
}
func SlicePath(id string, shard, k int) string {
	return ShardSlicePrefix(id, shard) + strconv.Itoa(k) + ".pb"
}
func DonePrefix(id string) string          { return Prefix(id) + "shards/" }
func DonePath(id string, shard int) string { return DonePrefix(id) + strconv.Itoa(shard) + ".done" }

// FailedPath is the marker of a shard that cannot run at all (a refused
// plan, a credential that cannot be had): it holds a ShardFailure, and the
// report says why instead of showing a silent gap.
func FailedPath(id string, shard int) string { return DonePrefix(id) + strconv.Itoa(shard) + ".failed" }

// MergedPrefix holds the sealed slices: one object per slice index, every
// shard's result of that slice merged (written once by the aggregator).
func MergedPrefix(id string) string      { return Prefix(id) + "merged/" }
func MergedPath(id string, k int) string { return MergedPrefix(id) + strconv.Itoa(k) + ".pb" }

func CancelPath(id string) string       { return Prefix(id) + "cancel" }
func LivePath(id string) string         { return Prefix(id) + "live.json" }
func ReportPath(id, file string) string { return Prefix(id) + file } // report.json, summary.txt, ...

// IdempotencyPath is the object that ties an Idempotency-Key to its run,
// outside every run's prefix. The key is hashed: it is the client's text,
// not a safe object name.
func IdempotencyPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return IdempotencyPrefix + hex.EncodeToString(sum[:])
}

// IdempotencyPrefix begins every IdempotencyPath.
const IdempotencyPrefix = "idempotency/"

// RunIDFromPath returns the run id of any object name under Root, and
// false for a name outside it. The id is not checked: runid.Valid does
// that where it matters.
func RunIDFromPath(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, Root)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

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

// ParseLeasePath returns the shard of a lease object name (LeasePath).
func ParseLeasePath(id, name string) (int, error) {
	return parseShardPath("lease", name, LeasePrefix(id), "", func(shard int) string { return LeasePath(id, shard) })
}

// ParseDonePath returns the shard of a done marker's name (DonePath).
func ParseDonePath(id, name string) (int, error) {
	return parseShardPath("done marker", name, DonePrefix(id), ".done", func(shard int) string { return DonePath(id, shard) })
}

// ParseFailedPath returns the shard of a failed-shard marker name.
func ParseFailedPath(id, name string) (int, error) {
	return parseShardPath("failed-shard marker", name, DonePrefix(id), ".failed", func(shard int) string { return FailedPath(id, shard) })
}

// parseShardPath reads the shard number between prefix and suffix, and
// accepts only the name that build gives back for it: no sign, no leading
// zero, nothing nested.
func parseShardPath(what, name, prefix, suffix string, build func(int) string) (int, error) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, fmt.Errorf("%s %q: not under %s", what, name, prefix)
	}
	num, ok := strings.CutSuffix(rest, suffix)
	if !ok {
		return 0, fmt.Errorf("%s %q: want <shard>%s", what, name, suffix)
	}
	shard, err := strconv.Atoi(num)
	if err != nil || shard < 0 || build(shard) != name {
		return 0, fmt.Errorf("%s %q: bad shard %q", what, name, num)
	}
	return shard, nil
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
	// SubmittedBy is the principal that posted the plan, as the platform
	// verified it (the e-mail of its identity token); empty when the
	// trigger knows no identity (a local trigger).
	SubmittedBy string `json:"submitted_by,omitempty"`
	// Corpus pins the plan's data.uri: the generation the trigger found,
	// which every worker reads, so that an object overwritten mid-run
	// cannot split the run across two versions. nil without data.uri.
	Corpus *Corpus `json:"corpus,omitempty"`
}

// Corpus is a corpus object pinned at one generation.
type Corpus struct {
	URI        string `json:"uri"` // gs://bucket/object, as data.uri says
	Generation int64  `json:"generation"`
	Bytes      int64  `json:"bytes"` // its size
}

// Reasons of a ShardWork message. A worker at its capacity still takes
// resume and handover (a shard whose worker died or stops), never start.
const (
	// ReasonStart is a shard's first publication: by the trigger, or by the
	// aggregator for a shard nobody picked up.
	ReasonStart = "start"
	// ReasonResume is the aggregator's publication of a shard whose lease
	// lapsed or was released: its worker died or gave up.
	ReasonResume = "resume"
	// ReasonHandOver is a stopping worker's publication of a shard it hands
	// over at a slice boundary.
	ReasonHandOver = "handover"
)

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
	EventFailed = "failed" // wrote a shard's failed marker: it cannot run
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

// ShardFailure is a failed-shard marker's content (FailedPath).
type ShardFailure struct {
	Worker string    `json:"worker"`
	Time   time.Time `json:"time"`
	// Reason says why, for the report: "target.auth: secret ... denied".
	Reason string `json:"reason"`
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

// ParseMergedPath returns the slice index of a sealed slice object name.
func ParseMergedPath(id, name string) (int, error) {
	rest, ok := strings.CutPrefix(name, MergedPrefix(id))
	if !ok {
		return 0, fmt.Errorf("sealed slice %q: not under %s", name, MergedPrefix(id))
	}
	f, ok := strings.CutSuffix(rest, ".pb")
	k, err := strconv.Atoi(f)
	if !ok || err != nil || k < 0 {
		return 0, fmt.Errorf("sealed slice %q: want <slice>.pb", name)
	}
	return k, nil
}
