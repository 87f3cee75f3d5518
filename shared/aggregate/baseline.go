package aggregate

import (
	"context"
	"errors"
	"fmt"

	"github.com/cicadaload/cicada/shared/compare"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/store"
)

// defaultTolerancePct is how much worse than its baseline a figure may be
// when the plan does not say.
const defaultTolerancePct = 10

// CompareBaseline adds the comparison with the plan's baseline run to a
// final report and judges it again: a regression fails the run. A plan
// without a baseline is left alone; a baseline that has no report yet is
// an error for the caller to log, not a verdict.
func (s *State) CompareBaseline(ctx context.Context, st store.Store, rep *report.Report) error {
	if s.Plan.Baseline == "" {
		return nil
	}
	base, id, err := compare.FindBaseline(ctx, st, s.Plan.Name, s.Plan.Baseline, s.Run.ID)
	if err != nil {
		if errors.Is(err, compare.ErrNoBaseline) {
			return fmt.Errorf("baseline %q of run %s: %w", s.Plan.Baseline, s.Run.ID, err)
		}
		return fmt.Errorf("find baseline of run %s: %w", s.Run.ID, err)
	}
	tol := s.Plan.CompareTolerance
	if tol <= 0 {
		tol = defaultTolerancePct
	}
	rep.Comparison = compare.Compare(base, rep, tol)
	rep.Comparison.BaselineRunID = id
	s.Judge(rep)
	return nil
}
