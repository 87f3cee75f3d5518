package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
)

// BigQuery's external tables read the rows with ignore_unknown_values
// false: a field the schema lacks, a REQUIRED column missing, or a value
// of the wrong type fails the query. These tests hold the rows and the
// schema files of deploy/terraform/bigquery.tf to each other.

var (
	bqTypes = map[string]bool{"STRING": true, "INT64": true, "FLOAT64": true, "TIMESTAMP": true, "BOOL": true}
	bqModes = map[string]bool{"NULLABLE": true, "REQUIRED": true, "REPEATED": true}
	// bqTimestamp is the form encoding/json gives a UTC time.Time that
	// BigQuery reads as a TIMESTAMP: at most microseconds.
	bqTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$`)
)

func mustSchema(t *testing.T, b []byte) map[string]Column {
	t.Helper()
	cols, err := ParseSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Column{}
	for _, c := range cols {
		if _, dup := out[c.Name]; dup {
			t.Errorf("column %s twice", c.Name)
		}
		if !bqTypes[c.Type] || !bqModes[c.Mode] || strings.TrimSpace(c.Description) == "" {
			t.Errorf("column %+v: want a type of %v, a mode of %v and a description", c, bqTypes, bqModes)
		}
		out[c.Name] = c
	}
	return out
}

// TestSchemaMatchesTypes holds each schema to its Go type field by field:
// the same columns, a type for each Go kind, REPEATED for a slice,
// NULLABLE exactly for a pointer or an omitempty string.
func TestSchemaMatchesTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema []byte
		typ    reflect.Type
	}{
		{"runs", RunsSchema, reflect.TypeFor[Row]()},
		{"slices", SlicesSchema, reflect.TypeFor[SliceRow]()},
	}
	timeType := reflect.TypeFor[time.Time]()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cols := mustSchema(t, tt.schema)
			seen := map[string]bool{}
			for i := range tt.typ.NumField() {
				f := tt.typ.Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					t.Errorf("field %s has no JSON name: BigQuery would see %q", f.Name, f.Name)
					continue
				}
				seen[name] = true
				col, ok := cols[name]
				if !ok {
					t.Errorf("field %s (%s) is not a column of schema/%s.json", f.Name, name, tt.name)
					continue
				}
				ft, mode := f.Type, "REQUIRED"
				switch {
				case ft.Kind() == reflect.Pointer:
					ft, mode = ft.Elem(), "NULLABLE"
				case ft.Kind() == reflect.Slice:
					ft, mode = ft.Elem(), "REPEATED"
				case strings.Contains(opts, "omitempty"):
					mode = "NULLABLE"
				}
				var want string
				switch {
				case ft == timeType:
					want = "TIMESTAMP"
				case ft.Kind() == reflect.String:
					want = "STRING"
				case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Uint64:
					want = "INT64"
				case ft.Kind() == reflect.Float32 || ft.Kind() == reflect.Float64:
					want = "FLOAT64"
				case ft.Kind() == reflect.Bool:
					want = "BOOL"
				default:
					t.Errorf("field %s: Go type %s has no BigQuery type here", f.Name, f.Type)
					continue
				}
				if col.Type != want || col.Mode != mode {
					t.Errorf("column %s is %s %s, want %s %s (Go %s)", name, col.Mode, col.Type, mode, want, f.Type)
				}
			}
			for name := range cols {
				if !seen[name] {
					t.Errorf("column %s of schema/%s.json is no field of %s", name, tt.name, tt.typ)
				}
			}
		})
	}
}

// TestRowsMatchSchema writes realistic runs with Write and checks every
// line it stored under index/ and index-slices/ against the schema files,
// value by value; rows with and without accuracy and capacity, as the
// aggregator encodes them, too.
func TestRowsMatchSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	runsCols := mustSchema(t, RunsSchema)
	sliceCols := mustSchema(t, SlicesSchema)

	pass := fakeReport("nightly/bert", 1, report.VerdictPass)
	pass.SubmittedBy = "ci@example.iam.gserviceaccount.com"
	pass.Start = pass.Start.Add(123456789 * time.Nanosecond) // finer than BigQuery keeps
	pass.Slices[0].Start = pass.Slices[0].Start.Add(987654321 * time.Nanosecond)
	accuracy := 761.0 / 800
	pass.Summary.Predictions = report.Predictions{Instances: 23960, InstanceRate: 399.2, Checked: 800, Correct: 761, Accuracy: &accuracy}
	fail := fakeReport("nightly/bert", 2, report.VerdictFail)
	fail.Status = report.StatusIncomplete
	fail.VerdictReasons = []string{"p99 < 50ms: 52.3 ms", "coverage 90% < 100%"}
	cancelled := fakeReport("other", 3, report.VerdictIncomplete)
	cancelled.Status = report.StatusCancelled
	cancelled.Slices = nil
	for _, rep := range []*report.Report{pass, fail, cancelled} {
		if err := Write(ctx, st, rep, []byte(`{"name":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}

	var lines []string
	for _, prefix := range []string{runs.IndexRoot, runs.SliceIndexRoot, runs.LatestRoot} {
		names, err := st.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			obj, err := st.Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(obj.Data))
			for sc.Scan() {
				lines = append(lines, name+"\t"+sc.Text())
			}
		}
	}
	// Rows with the capacity figure, which no report carries yet, encoded
	// as Write encodes them.
	acc, capa := 0.987, 412.5
	for _, set := range []struct{ acc, capa *float64 }{{nil, &capa}, {&acc, &capa}} {
		row := FromReport(pass, nil)
		row.Accuracy, row.MaxRateUnderSLO = set.acc, set.capa
		b, err := encodeRow(row)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, "extra\t"+strings.TrimSuffix(string(b), "\n"))
	}

	counts := map[string]int{}
	for _, l := range lines {
		name, line, _ := strings.Cut(l, "\t")
		cols := runsCols
		if strings.HasPrefix(name, runs.SliceIndexRoot) {
			cols = sliceCols
		}
		counts[strings.SplitN(name, "/", 2)[0]]++
		for _, p := range checkLine(line, cols) {
			t.Errorf("%s: %s\n\tline %s", name, p, line)
		}
		if strings.Contains(line, `"accuracy"`) {
			counts["accuracy"]++
		}
	}
	// 3 rows; 2+2 slice rows (the cancelled run has none, an empty
	// object); 3 pointers (nightly/bert last and pass, other last); 2
	// extra rows. Accuracy: the passing run's row, its pass pointer, one
	// extra row.
	want := map[string]int{"index": 3, "index-slices": 4, "latest": 3, "extra": 2, "accuracy": 3}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d lines of %s, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
}

// checkLine lists how one line of newline-delimited JSON breaks schema.
func checkLine(line string, cols map[string]Column) []string {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return []string{fmt.Sprintf("not a JSON object: %v", err)}
	}
	var probs []string
	for k, v := range obj {
		col, ok := cols[k]
		if !ok {
			probs = append(probs, fmt.Sprintf("field %s is not in the schema", k))
			continue
		}
		if v == nil {
			if col.Mode != "NULLABLE" {
				probs = append(probs, fmt.Sprintf("%s is null but %s", k, col.Mode))
			}
			continue
		}
		vals := []any{v}
		if col.Mode == "REPEATED" {
			arr, ok := v.([]any)
			if !ok {
				probs = append(probs, fmt.Sprintf("%s is REPEATED but %T", k, v))
				continue
			}
			vals = arr
		}
		for _, e := range vals {
			if p := checkValue(col, e); p != "" {
				probs = append(probs, p)
			}
		}
	}
	for name, col := range cols {
		if _, ok := obj[name]; !ok && col.Mode == "REQUIRED" {
			probs = append(probs, fmt.Sprintf("REQUIRED column %s is missing", name))
		}
	}
	return probs
}

func checkValue(col Column, v any) string {
	switch col.Type {
	case "STRING":
		if _, ok := v.(string); ok {
			return ""
		}
	case "TIMESTAMP":
		if s, ok := v.(string); ok && bqTimestamp.MatchString(s) {
			return ""
		}
	case "INT64":
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return ""
			}
		}
	case "FLOAT64":
		if n, ok := v.(json.Number); ok {
			if _, err := n.Float64(); err == nil {
				return ""
			}
		}
	case "BOOL":
		if _, ok := v.(bool); ok {
			return ""
		}
	}
	return fmt.Sprintf("%s: %v (%T) is no %s", col.Name, v, v, col.Type)
}
