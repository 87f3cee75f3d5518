package runs

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/cicadaload/cicada/shared/runid"
)

// The runs index: one small row object per finished run, kept apart from
// runs/ so that a plan's history, the last pass and every run's row are
// one short listing or one read, however many objects the runs hold.
//
//	index/<plan>/<run id>.json          one row (one line of JSON) per run
//	index-slices/<plan>/<run id>.ndjson one row per slice of that run
//	latest/<plan>/last.json             the newest run's row
//	latest/<plan>/pass.json             the newest passing run's row
//
// The plan name is path-escaped (a "/" in it becomes %2F), so that each
// plan is exactly one folder. BigQuery's external tables read index/ and
// index-slices/ as newline-delimited JSON.
const (
	IndexRoot      = "index/"
	SliceIndexRoot = "index-slices/"
	LatestRoot     = "latest/"
)

// Pointers under LatestRoot.
const (
	LatestRun  = "last"
	LatestPass = "pass"
)

// IndexPrefix is the folder of plan's rows; "" lists every plan's.
func IndexPrefix(plan string) string {
	if plan == "" {
		return IndexRoot
	}
	return IndexRoot + url.PathEscape(plan) + "/"
}

// IndexPath is the row of run id of plan.
func IndexPath(plan, id string) string { return IndexPrefix(plan) + id + ".json" }

// SliceIndexPath is the per-slice rows of run id of plan.
func SliceIndexPath(plan, id string) string {
	return SliceIndexRoot + url.PathEscape(plan) + "/" + id + ".ndjson"
}

// LatestPath is plan's pointer kind (LatestRun or LatestPass).
func LatestPath(plan, kind string) string {
	return LatestRoot + url.PathEscape(plan) + "/" + kind + ".json"
}

// ParseIndexPath returns the plan and run id of a row object's name.
func ParseIndexPath(name string) (plan, id string, err error) {
	rest, ok := strings.CutPrefix(name, IndexRoot)
	esc, file, ok2 := strings.Cut(rest, "/")
	id, ok3 := strings.CutSuffix(file, ".json")
	if !ok || !ok2 || !ok3 || esc == "" {
		return "", "", fmt.Errorf("index row %q: want %s<plan>/<run id>.json", name, IndexRoot)
	}
	if plan, err = url.PathUnescape(esc); err != nil {
		return "", "", fmt.Errorf("index row %q: plan name: %w", name, err)
	}
	if err := runid.Valid(id); err != nil {
		return "", "", fmt.Errorf("index row %q: %w", name, err)
	}
	return plan, id, nil
}
