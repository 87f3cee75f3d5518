package compare

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
// older than selfID (run ids sort by creation time) whose report.json has
// plan_name planName and verdict pass. An empty selfID puts no bound. A
// report.json that cannot be decoded is skipped by LastPass, so that one
// corrupt object does not hide every older run.
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

// lastPass walks the runs' report.json objects from the newest older than
// selfID back, and returns the first passing one of planName.
func lastPass(ctx context.Context, st store.Store, planName, selfID string) (*report.Report, string, error) {
	// The bucket lists objects, not directories: every run's objects come
	// back, and only report.json names a candidate.
	names, err := st.List(ctx, runs.Root)
	if err != nil {
		return nil, "", fmt.Errorf("find baseline: list runs: %w", err)
	}
	var ids []string
	for _, name := range names {
		id, ok := reportRunID(name)
		if ok && (selfID == "" || id < selfID) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range slices.Backward(ids) {
		if err := ctx.Err(); err != nil {
			return nil, "", fmt.Errorf("find baseline: %w", err)
		}
		rep, err := readReport(ctx, st, id)
		var syntax *decodeError
		switch {
		case errors.As(err, &syntax), errors.Is(err, store.ErrNotFound):
			continue // corrupt, or deleted since the listing
		case err != nil:
			return nil, "", fmt.Errorf("find baseline: %w", err)
		}
		if rep.PlanName == planName && rep.Verdict == report.VerdictPass {
			return rep, id, nil
		}
	}
	return nil, "", fmt.Errorf("find baseline: no passing run of plan %q before %s: %w", planName, selfIDOrNow(selfID), ErrNoBaseline)
}

func selfIDOrNow(selfID string) string {
	if selfID == "" {
		return "now"
	}
	return "run " + selfID
}

// reportRunID returns the run id of a run's report.json object.
func reportRunID(name string) (string, bool) {
	id, ok := runs.RunIDFromPath(name)
	if !ok || name != runs.ReportPath(id, report.FileJSON) || runid.Valid(id) != nil {
		return "", false
	}
	return id, true
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
