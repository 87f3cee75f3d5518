// Package index keeps the runs index: one small row per finished run,
// written by the aggregator next to the report, so that a plan's history,
// the runs list and the last passing run are read from a few small objects
// instead of a listing of runs/ (see shared/runs for the layout). Rows are
// one line of JSON each: BigQuery reads them as newline-delimited JSON
// through the external tables of deploy/terraform, whose schema is
// schema/runs.json and schema/slices.json here.
package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/store"
)

// Row is one finished run, as a trend needs it. Field names are the
// BigQuery columns (schema/runs.json); a pointer is NULL when absent.
type Row struct {
	RunID       string    `json:"run_id"`
	Plan        string    `json:"plan"`
	PlanHash    string    `json:"plan_hash"` // sha256 of plan.json: a changed plan breaks the trend
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	DurationS   float64   `json:"duration_s"`
	Status      string    `json:"status"`
	Verdict     string    `json:"verdict"`
	Reasons     []string  `json:"verdict_reasons,omitempty"`
	SubmittedBy string    `json:"submitted_by,omitempty"`
	Shards      int       `json:"shards"`

	Intended  int64 `json:"intended"`
	Completed int64 `json:"completed"`
	Errors    int64 `json:"errors"`
	Dropped   int64 `json:"dropped"`
	Instances int64 `json:"instances"`

	AchievedRate float64  `json:"achieved_rate"`
	PlannedRate  float64  `json:"planned_rate"`
	InstanceRate float64  `json:"instance_rate"`
	ErrorRate    float64  `json:"error_rate"`
	P50MS        float64  `json:"p50_ms"`
	P90MS        float64  `json:"p90_ms"`
	P99MS        float64  `json:"p99_ms"`
	MaxMS        float64  `json:"max_ms"`
	Accuracy     *float64 `json:"accuracy,omitempty"`
	// MaxRateUnderSLO is a capacity search's answer, req/s.
	MaxRateUnderSLO *float64 `json:"max_rate_under_slo,omitempty"`
}

// SliceRow is one slice of a run, for BigQuery (schema/slices.json).
type SliceRow struct {
	RunID           string    `json:"run_id"`
	Plan            string    `json:"plan"`
	Index           int       `json:"index"`
	Start           time.Time `json:"start"`
	Intended        int64     `json:"intended"`
	Completed       int64     `json:"completed"`
	Errors          int64     `json:"errors"`
	Dropped         int64     `json:"dropped"`
	AchievedRate    float64   `json:"achieved_rate"`
	PlannedRate     float64   `json:"planned_rate"`
	P50MS           float64   `json:"p50_ms"`
	P90MS           float64   `json:"p90_ms"`
	P99MS           float64   `json:"p99_ms"`
	MaxMS           float64   `json:"max_ms"`
	ShardsReporting int       `json:"shards_reporting"`
}

// PlanHash is the hex sha256 of a stored plan.json.
func PlanHash(planJSON []byte) string {
	sum := sha256.Sum256(planJSON)
	return hex.EncodeToString(sum[:])
}

// FromReport is the row of a final report.
func FromReport(rep *report.Report, planJSON []byte) Row {
	s := rep.Summary
	r := Row{
		RunID:        rep.RunID,
		Plan:         rep.PlanName,
		PlanHash:     PlanHash(planJSON),
		Start:        bqTime(rep.Start),
		End:          bqTime(rep.End),
		Status:       rep.Status,
		Verdict:      rep.Verdict,
		Reasons:      rep.VerdictReasons,
		SubmittedBy:  rep.SubmittedBy,
		Shards:       rep.Shards,
		Intended:     s.Intended,
		Completed:    s.Completed,
		Errors:       s.Errors,
		Dropped:      s.Dropped,
		AchievedRate: s.RPS,
		PlannedRate:  s.PlannedRPS,
		ErrorRate:    s.ErrorRate,
		P50MS:        s.LatencyMS.P50,
		P90MS:        s.LatencyMS.P90,
		P99MS:        s.LatencyMS.P99,
		MaxMS:        s.LatencyMS.Max,
	}
	if !rep.Start.IsZero() && rep.End.After(rep.Start) {
		r.DurationS = rep.End.Sub(rep.Start).Seconds()
	}
	fillExtra(&r, rep)
	return r
}

// bqTime is t in UTC to the microsecond, BigQuery's TIMESTAMP precision:
// a row's JSON then has at most six fractional digits.
func bqTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// SliceRowsOf are a final report's slice rows.
func SliceRowsOf(rep *report.Report) []SliceRow {
	out := make([]SliceRow, 0, len(rep.Slices))
	for _, s := range rep.Slices {
		out = append(out, SliceRow{
			RunID:           rep.RunID,
			Plan:            rep.PlanName,
			Index:           s.Index,
			Start:           bqTime(s.Start),
			Intended:        s.Intended,
			Completed:       s.Completed,
			Errors:          s.Errors,
			Dropped:         s.Dropped,
			AchievedRate:    s.RPS,
			PlannedRate:     s.PlannedRPS,
			P50MS:           s.LatencyMS.P50,
			P90MS:           s.LatencyMS.P90,
			P99MS:           s.LatencyMS.P99,
			MaxMS:           s.LatencyMS.Max,
			ShardsReporting: s.ShardsReporting,
		})
	}
	return out
}

// Write records a finished run in the index: its row, its slice rows and
// the plan's latest pointers. Writing the same run again is harmless (the
// aggregator may finish a run twice after a restart).
func Write(ctx context.Context, st store.Store, rep *report.Report, planJSON []byte) error {
	row := FromReport(rep, planJSON)
	b, err := encodeRow(row)
	if err != nil {
		return err
	}
	var lines bytes.Buffer
	for _, s := range SliceRowsOf(rep) {
		line, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("index run %s: encode slice row %d: %w", row.RunID, s.Index, err)
		}
		lines.Write(line)
		lines.WriteByte('\n')
	}
	// Slice rows before the run's row: a reader that sees the row finds
	// its slices.
	if _, err := st.Put(ctx, runs.SliceIndexPath(row.Plan, row.RunID), lines.Bytes(), ndjson); err != nil {
		return fmt.Errorf("index run %s: write slice rows: %w", row.RunID, err)
	}
	if _, err := st.Put(ctx, runs.IndexPath(row.Plan, row.RunID), b, ndjson); err != nil {
		return fmt.Errorf("index run %s: write row: %w", row.RunID, err)
	}
	if err := advance(ctx, st, runs.LatestPath(row.Plan, runs.LatestRun), row, b); err != nil {
		return err
	}
	if row.Verdict == report.VerdictPass {
		return advance(ctx, st, runs.LatestPath(row.Plan, runs.LatestPass), row, b)
	}
	return nil
}

const ndjson = "application/x-ndjson"

func encodeRow(row Row) ([]byte, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("index run %s: encode row: %w", row.RunID, err)
	}
	return append(b, '\n'), nil
}

// advance points name at row unless it already points at a newer run:
// runs of one plan may end in any order, and the pointer must only move
// forward. The write is conditional on the generation read, so two
// aggregators finishing two runs at once cannot lose the newer one.
func advance(ctx context.Context, st store.Store, name string, row Row, b []byte) error {
	for attempt := 0; attempt < 8; attempt++ {
		obj, err := st.Get(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = st.Create(ctx, name, b, ndjson)
		case err != nil:
			return fmt.Errorf("index run %s: read %s: %w", row.RunID, name, err)
		default:
			cur, derr := decodeRow(obj.Data)
			if derr == nil && cur.RunID >= row.RunID {
				return nil
			}
			_, err = st.Replace(ctx, name, obj.Generation, b, ndjson)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("index run %s: write %s: %w", row.RunID, name, err)
		}
	}
	return fmt.Errorf("index run %s: %s kept changing under the write", row.RunID, name)
}

func decodeRow(b []byte) (Row, error) {
	var r Row
	if err := json.Unmarshal(b, &r); err != nil {
		return Row{}, fmt.Errorf("decode index row: %w", err)
	}
	return r, nil
}

// ErrNoRun is returned by Latest when the plan has no such run yet.
var ErrNoRun = errors.New("no such run in the index")

// Latest returns plan's newest run (kind runs.LatestRun) or newest
// passing run (runs.LatestPass): one read, whatever the bucket holds.
func Latest(ctx context.Context, st store.Store, plan, kind string) (Row, error) {
	obj, err := st.Get(ctx, runs.LatestPath(plan, kind))
	if errors.Is(err, store.ErrNotFound) {
		return Row{}, fmt.Errorf("plan %q: %w", plan, ErrNoRun)
	}
	if err != nil {
		return Row{}, fmt.Errorf("read latest %s run of plan %q: %w", kind, plan, err)
	}
	return decodeRow(obj.Data)
}

// Query selects rows; zero fields select everything.
type Query struct {
	Plan    string
	Status  string
	Verdict string
	Since   time.Time // runs started at or after
	Limit   int       // default DefaultLimit, at most MaxLimit
	// Cursor continues a listing: the Next of the previous page (rows of
	// runs older than it).
	Cursor string
}

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// List returns the rows that match q, newest first, and the cursor of the
// next page ("" when there is none). It lists index/ (or one plan's
// folder of it) and reads rows, never runs/.
func List(ctx context.Context, st store.Store, q Query) ([]Row, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	names, err := st.List(ctx, runs.IndexPrefix(q.Plan))
	if err != nil {
		return nil, "", fmt.Errorf("list runs index: %w", err)
	}
	type entry struct{ name, id string }
	var cands []entry
	since := ""
	if !q.Since.IsZero() {
		since = q.Since.UTC().Format("20060102-150405")
	}
	for _, name := range names {
		_, id, err := runs.ParseIndexPath(name)
		if err != nil {
			continue // not a row: left alone, never fatal to a listing
		}
		if (q.Cursor != "" && id >= q.Cursor) || (since != "" && id < since) {
			continue
		}
		cands = append(cands, entry{name, id})
	}
	// Newest first across plans: ids sort by start time.
	slices.SortFunc(cands, func(a, b entry) int { return strings.Compare(b.id, a.id) })

	var out []Row
	for len(cands) > 0 && len(out) < limit {
		batch := cands[:min(len(cands), limit-len(out))]
		cands = cands[len(batch):]
		rows := make([]*Row, len(batch))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i, e := range batch {
			g.Go(func() error {
				obj, err := st.Get(gctx, e.name)
				if errors.Is(err, store.ErrNotFound) {
					return nil // deleted between the listing and the read
				}
				if err != nil {
					return fmt.Errorf("read index row %s: %w", e.name, err)
				}
				r, err := decodeRow(obj.Data)
				if err != nil {
					return fmt.Errorf("index row %s: %w", e.name, err)
				}
				rows[i] = &r
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, "", err
		}
		for _, r := range rows {
			if r != nil && (q.Status == "" || r.Status == q.Status) && (q.Verdict == "" || r.Verdict == q.Verdict) {
				out = append(out, *r)
			}
		}
	}
	next := ""
	if len(cands) > 0 && len(out) > 0 {
		next = out[len(out)-1].RunID
	}
	return out, next, nil
}
