package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/store"
)

// Stored is a run as the trigger stored it when it accepted the plan:
// run.json and plan.json.
type Stored struct {
	Run  Run
	Plan *plan.Plan
	// PlanJSON is plan.json as stored: the report files show it.
	PlanJSON []byte
	// Invalid, set by ReadLenient only, is why plan.json does not
	// validate: a plan no trigger accepted, written into the bucket. Such
	// a plan is reported on, never run.
	Invalid *plan.ValidationError
}

// Read reads a run's run.json and plan.json, which must validate. An
// error wraps store.ErrNotFound when either is missing.
func Read(ctx context.Context, st store.Store, id string) (*Stored, error) {
	s, err := ReadLenient(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if s.Invalid != nil {
		return nil, fmt.Errorf("plan of run %s: %w", id, s.Invalid)
	}
	return s, nil
}

// ReadLenient reads a run as Read does, but keeps a plan.json that does
// not validate when every problem lies in what the run would send (target,
// data) rather than in its shape (stages, slices, shards, thresholds,
// verdict), with Stored.Invalid saying why: a worker refuses such a run
// with that reason, and the aggregator reports it (verdict error) instead
// of failing to read it. A plan whose shape is broken is an error, as with
// Read: there is no run to report on.
func ReadLenient(ctx context.Context, st store.Store, id string) (*Stored, error) {
	obj, err := st.Get(ctx, RunPath(id))
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	run, err := DecodeRun(obj.Data)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	if obj, err = st.Get(ctx, PlanPath(id)); err != nil {
		return nil, fmt.Errorf("read plan of run %s: %w", id, err)
	}
	p, err := plan.ParseKeep(obj.Data, "json")
	var invalid *plan.ValidationError
	if err != nil && (p == nil || !errors.As(err, &invalid) || !sendingOnly(invalid)) {
		return nil, fmt.Errorf("plan of run %s: %w", id, err)
	}
	return &Stored{Run: run, Plan: p, PlanJSON: obj.Data, Invalid: invalid}, nil
}

// sendingOnly reports whether every problem of e lies in what a run sends
// (target.*, data.*), none in the shape a report is built on.
func sendingOnly(e *plan.ValidationError) bool {
	if len(e.Problems) == 0 {
		return false
	}
	for _, pr := range e.Problems {
		if !under(pr.Path, "target") && !under(pr.Path, "data") {
			return false
		}
	}
	return true
}

// under reports whether the plan path lies at or below field.
func under(path, field string) bool {
	rest, ok := strings.CutPrefix(path, field)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// InvalidReason says on one line why the run cannot run, as the reason of
// its failed shards: "" when its plan is valid.
func (s *Stored) InvalidReason() string {
	if s.Invalid == nil {
		return ""
	}
	probs := make([]string, len(s.Invalid.Problems))
	for i, pr := range s.Invalid.Problems {
		probs[i] = pr.String()
	}
	return "plan.json is not a valid plan (no trigger accepted it): " + strings.Join(probs, "; ")
}

// DecodeRun decodes run.json.
func DecodeRun(data []byte) (Run, error) {
	var run Run
	if err := json.Unmarshal(data, &run); err != nil {
		return Run{}, fmt.Errorf("decode run.json: %w", err)
	}
	return run, nil
}
