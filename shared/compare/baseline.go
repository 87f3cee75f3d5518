package compare

import (
	"context"
	"errors"
	"fmt"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// LastPass is the plan baseline that names the newest passing run of the
// same plan name.
const LastPass = "last-pass"

// ErrNoBaseline means the baseline a plan names has no report to compare
// with: no run passed yet, or the named run has no report.json. A report
// goes without a comparison then; it is not a failure of the run.
var ErrNoBaseline = errors.New("no baseline report")

// FindBaseline reads the report a plan's baseline names, with its run id.
//
// baseline is a run id, whose runs/<id>/report.json is read whatever its
// plan name and verdict (the user chose it), or LastPass: the newest run
// older than selfID (run ids sort by creation time) that the runs index
// holds as a pass of planName, whose report.json says so too. An empty
// selfID puts no bound. A report.json that cannot be decoded is skipped
// by LastPass, so that one corrupt object does not hide every older run.
//
// It returns an error wrapping ErrNoBaseline when there is no such report
// (also for an empty baseline, or a baseline that is selfID itself), and
// other errors when the bucket fails or baseline is neither form.
func FindBaseline(ctx context.Context, st store.Store, planName, baseline, selfID string) (*report.Report, string, error) {
	switch {
	case baseline == "":
		return nil, "", fmt.Errorf("find baseline: the plan names none: %w", ErrNoBaseline)
	case baseline == LastPass:
		return lastPass(ctx, st, planName, selfID)
	}
	if err := runid.Valid(baseline); err != nil {
		return nil, "", fmt.Errorf("find baseline: want a run id or %q: %w", LastPass, err)
	}
	if baseline == selfID {
		return nil, "", fmt.Errorf("find baseline: run %s cannot be its own baseline: %w", baseline, ErrNoBaseline)
	}
	rep, err := readReport(ctx, st, baseline)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", fmt.Errorf("find baseline: run %s has no report.json: %w (%w)", baseline, ErrNoBaseline, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("find baseline: %w", err)
	}
	return rep, baseline, nil
}

// lastPass finds the newest passing run of planName older than selfID in
// the runs index (package index), never listing runs/: the plan's pass
// pointer is one read, and only when a later run passed first (the
// pointer names a run not older than selfID) are the plan's index rows
// read, newest first from selfID back. The index is the source: a run
// that finished before the aggregator wrote the index is no candidate
// (docs/history.md). A candidate whose report.json is gone or corrupt is
// skipped for the next older one.
func lastPass(ctx context.Context, st store.Store, planName, selfID string) (*report.Report, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("find baseline: %w", err)
	}
	noPass := func() error {
		return fmt.Errorf("find baseline: no passing run of plan %q before %s: %w", planName, selfIDOrNow(selfID), ErrNoBaseline)
	}
	row, err := index.Latest(ctx, st, planName, runs.LatestPass)
	switch {
	case errors.Is(err, index.ErrNoRun):
		return nil, "", noPass()
	case err != nil:
		return nil, "", fmt.Errorf("find baseline: %w", err)
	}
	id := ""
	if selfID == "" || row.RunID < selfID {
		id = row.RunID
	}
	cursor := selfID
	for {
		if id == "" {
			rows, _, err := index.List(ctx, st, index.Query{Plan: planName, Verdict: report.VerdictPass, Cursor: cursor, Limit: 1})
			if err != nil {
				return nil, "", fmt.Errorf("find baseline: %w", err)
			}
			if len(rows) == 0 {
				return nil, "", noPass()
			}
			id = rows[0].RunID
		}
		if err := ctx.Err(); err != nil {
			return nil, "", fmt.Errorf("find baseline: %w", err)
		}
		rep, err := readReport(ctx, st, id)
		var syntax *decodeError
		switch {
		case errors.As(err, &syntax), errors.Is(err, store.ErrNotFound):
			// corrupt, or deleted since it was indexed
		case err != nil:
			return nil, "", fmt.Errorf("find baseline: %w", err)
		case rep.PlanName == planName && rep.Verdict == report.VerdictPass:
			return rep, id, nil
		}
		cursor, id = id, ""
	}
}

func selfIDOrNow(selfID string) string {
	if selfID == "" {
		return "now"
	}
	return "run " + selfID
}

// decodeError is a report.json that is not a report.
type decodeError struct {
	name string
	err  error
}

func (e *decodeError) Error() string { return fmt.Sprintf("%s: %v", e.name, e.err) }
func (e *decodeError) Unwrap() error { return e.err }

// readReport reads and decodes runs/<id>/report.json.
func readReport(ctx context.Context, st store.Store, id string) (*report.Report, error) {
	name := runs.ReportPath(id, report.FileJSON)
	obj, err := st.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	rep, err := report.Decode(obj.Data)
	if err != nil {
		return nil, &decodeError{name: name, err: err}
	}
	if rep.RunID == "" {
		rep.RunID = id
	}
	return rep, nil
}
