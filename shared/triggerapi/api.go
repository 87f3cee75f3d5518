// Package triggerapi is the trigger's HTTP API as its clients see it: the
// bodies of its answers, and a Client that submits plans, follows runs,
// fetches their files and cancels them. The cicada CLI and the end-to-end
// tests use it; it does not import the trigger, so a client does not carry
// the bucket and bus libraries the trigger is built on.
package triggerapi

import (
	"encoding/json"
	"time"

	"github.com/cicadaload/cicada/shared/report"
)

// Accepted is the body of POST /runs's answer.
type Accepted struct {
	RunID     string    `json:"run_id"`
	StartAt   time.Time `json:"start_at"`
	StatusURL string    `json:"status_url"`
	// Note, when set, says that not every shard message went out: the run
	// stands, and the aggregator publishes the rest at its start time.
	Note string `json:"note,omitempty"`
}

// Phases of a run, as GET /runs/<id> tells them.
const (
	PhaseScheduled  = "scheduled"  // before start_at
	PhaseRunning    = "running"    // between start_at and end
	PhaseFinalizing = "finalizing" // past end, or every shard done, and no report yet
	PhaseDone       = "done"       // report written
	PhaseCancelled  = "cancelled"  // cancel marker written; final once the report is there
	PhaseFailed     = "failed"     // report written with status failed
)

// Status is the body of GET /runs/<id>.
type Status struct {
	RunID        string    `json:"run_id"`
	PlanName     string    `json:"plan_name"`
	Phase        string    `json:"phase"`
	StartAt      time.Time `json:"start_at"`
	End          time.Time `json:"end"`
	Shards       int       `json:"shards"`
	ShardsLeased int       `json:"shards_leased"`
	ShardsDone   int       `json:"shards_done"`
	Cancelled    bool      `json:"cancelled"`
	// Summary is the "summary" object of report.json once written, else of
	// live.json (the aggregator's running merge), else null.
	Summary json.RawMessage `json:"summary"`
	// Links maps each file of the run that exists to its URL.
	Links map[string]string `json:"links"`
}

// HasReport reports whether the run's report.json is written: the run is
// over and its report final.
func (s Status) HasReport() bool { return s.Links[report.FileJSON] != "" }

// Cancelled is the body of DELETE /runs/<id>'s answer.
type Cancelled struct {
	RunID     string `json:"run_id"`
	Phase     string `json:"phase"`
	StatusURL string `json:"status_url"`
}
