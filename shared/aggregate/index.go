package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// errNotIndexed marks a final report that is written but whose index row
// is not: the run's active marker stays, so that the next sweep finds the
// run and indexes it again (ensureIndexed). The report is never lost.
var errNotIndexed = errors.New("report written, run not in the index yet")

// writeIndex records a final report in the runs index (package index).
func writeIndex(ctx context.Context, st store.Store, rep *report.Report, planJSON []byte) error {
	if err := index.Write(ctx, st, rep, planJSON); err != nil {
		return fmt.Errorf("%w: %w", errNotIndexed, err)
	}
	return nil
}

// ensureIndexed indexes a run whose report.json exists but whose index
// row does not (an index write failed after the report was written): it
// reads the report back and writes the row, its slice rows and pointers.
// A row already there costs one read.
func (s *State) ensureIndexed(ctx context.Context, st store.Store) error {
	_, err := st.Get(ctx, runs.IndexPath(s.Plan.Name, s.Run.ID))
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("look for the index row of run %s: %w", s.Run.ID, err)
	}
	obj, err := st.Get(ctx, runs.ReportPath(s.Run.ID, report.FileJSON))
	if err != nil {
		return fmt.Errorf("read the report of run %s to index it: %w", s.Run.ID, err)
	}
	rep, err := report.Decode(obj.Data)
	if err != nil {
		return fmt.Errorf("decode the report of run %s to index it: %w", s.Run.ID, err)
	}
	return writeIndex(ctx, st, rep, s.PlanJSON)
}
