package runs

import (
	"context"
	"encoding/json"
	"fmt"

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
}

// Read reads a run's run.json and plan.json. An error wraps
// store.ErrNotFound when either is missing.
func Read(ctx context.Context, st store.Store, id string) (*Stored, error) {
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
	p, err := plan.Parse(obj.Data, "json")
	if err != nil {
		return nil, fmt.Errorf("plan of run %s: %w", id, err)
	}
	return &Stored{Run: run, Plan: p, PlanJSON: obj.Data}, nil
}

// DecodeRun decodes run.json.
func DecodeRun(data []byte) (Run, error) {
	var run Run
	if err := json.Unmarshal(data, &run); err != nil {
		return Run{}, fmt.Errorf("decode run.json: %w", err)
	}
	return run, nil
}
