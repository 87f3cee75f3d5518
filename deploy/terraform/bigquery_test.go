package terraform_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/cicadaload/cicada/shared/index"
	"github.com/cicadaload/cicada/shared/runs"
)

// bigqueryTable is what an external table of bigquery.tf must be: its
// schema file, the one package index embeds and holds every written row
// to, and the prefix of the runs bucket it reads.
type bigqueryTable struct {
	schemaFile string // relative to the repository
	schema     []byte
	prefix     string
}

// bigqueryTables are the tables bigquery.tf must define, by table_id.
var bigqueryTables = map[string]bigqueryTable{
	"runs":   {"shared/index/schema/runs.json", index.RunsSchema, runs.IndexRoot},
	"slices": {"shared/index/schema/slices.json", index.SlicesSchema, runs.SliceIndexRoot},
}

// checkBigQuery: one dataset, in the runs bucket's location and with no
// access for the public; every table of bigqueryTables, each external
// over newline-delimited JSON under its prefix of the runs bucket, with
// an explicit schema read from the file package index embeds (no
// autodetection, unknown fields not ignored). root is the repository,
// where the schema files are read.
func checkBigQuery(root string) check {
	return func(m *module) []string {
		var probs []string
		datasets := m.resources("google_bigquery_dataset")
		if len(datasets) != 1 {
			return []string{fmt.Sprintf("%d google_bigquery_dataset blocks, want 1", len(datasets))}
		}
		ds := datasets[0]
		probs = append(probs, checkDatasetLocation(m, ds)...)
		probs = append(probs, checkDatasetPrivate(m, ds)...)

		ctx := evalContext(m)
		ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(".")})
		seen := map[string]bool{}
		for _, tb := range m.resources("google_bigquery_table") {
			addr := address(tb)
			id, _ := literalString(tb.Body, "table_id")
			want, ok := bigqueryTables[id]
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: table_id %q is none of %v", addr, id, slices.Sorted(maps.Keys(bigqueryTables))))
				continue
			}
			seen[id] = true
			inDataset := false
			if a, ok := tb.Body.Attributes["dataset_id"]; ok {
				for _, t := range a.Expr.Variables() {
					inDataset = inDataset || refersTo(t, "google_bigquery_dataset", ds.Labels[1])
				}
			}
			if !inDataset {
				probs = append(probs, addr+": dataset_id does not refer to "+address(ds))
			}
			if _, ok := tb.Body.Attributes["schema"]; ok {
				probs = append(probs, addr+": top-level schema: an external table without a connection takes external_data_configuration.schema")
			}
			ext := child(tb, "external_data_configuration")
			if ext == nil {
				probs = append(probs, addr+": no external_data_configuration (the rows stay in the bucket)")
				continue
			}
			if v, _ := literalString(ext.Body, "source_format"); v != "NEWLINE_DELIMITED_JSON" {
				probs = append(probs, fmt.Sprintf("%s: source_format %q, want NEWLINE_DELIMITED_JSON", addr, v))
			}
			if v, ok := literalBool(ext.Body, "autodetect"); !ok || v {
				probs = append(probs, addr+": autodetect is not false (the schema is the repository's file)")
			}
			if v, ok := literalBool(ext.Body, "ignore_unknown_values"); ok && v {
				probs = append(probs, addr+": ignore_unknown_values is true: a row that drifted from the schema would lose columns silently")
			}
			probs = append(probs, checkSourceURIs(ctx, addr, ext, want.prefix)...)
			probs = append(probs, checkSchemaFile(ctx, root, addr, ext, want)...)
		}
		for id := range bigqueryTables {
			if !seen[id] {
				probs = append(probs, fmt.Sprintf("no google_bigquery_table with table_id %q", id))
			}
		}
		return probs
	}
}

// exprSource names what an attribute's expression is: its value when
// constant, else the references it makes (var.region, ...).
func exprSource(b *hclsyntax.Block, name string) (string, bool) {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return "", false
	}
	if v, ok := constant(a.Expr); ok && v.Type() == cty.String {
		return fmt.Sprintf("%q", v.AsString()), true
	}
	var parts []string
	for _, t := range a.Expr.Variables() {
		parts = append(parts, traversalString(t))
	}
	return strings.Join(parts, ","), true
}

func traversalString(t hcl.Traversal) string {
	s := t.RootName()
	for _, step := range t[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			s += "." + a.Name
		}
	}
	return s
}

// checkDatasetLocation wants the dataset where the runs bucket is: its
// location the same expression as the bucket's, or the bucket's own.
func checkDatasetLocation(m *module, ds *hclsyntax.Block) []string {
	buckets := m.resources("google_storage_bucket")
	var runsBucket *hclsyntax.Block
	for _, b := range buckets {
		if b.Labels[1] == "runs" {
			runsBucket = b
		}
	}
	if runsBucket == nil {
		return []string{"no google_storage_bucket.runs to compare the dataset's location with"}
	}
	dsLoc, ok := exprSource(ds, "location")
	if !ok {
		return []string{address(ds) + ": no location (BigQuery's default, US, need not be the bucket's)"}
	}
	bLoc, _ := exprSource(runsBucket, "location")
	if dsLoc == bLoc || strings.Contains(dsLoc, "google_storage_bucket.runs.location") {
		return nil
	}
	return []string{fmt.Sprintf("%s: location %s is not the runs bucket's (%s)", address(ds), dsLoc, bLoc)}
}

// checkDatasetPrivate refuses access blocks and IAM bindings that open the
// dataset to everyone; literal public principals anywhere are refused by
// checkNoPublicPrincipals already.
func checkDatasetPrivate(m *module, ds *hclsyntax.Block) []string {
	var probs []string
	public := []string{"allUsers", "allAuthenticatedUsers", "projectReaders"}
	for _, c := range ds.Body.Blocks {
		if c.Type != "access" {
			continue
		}
		for _, name := range []string{"special_group", "iam_member", "domain"} {
			if v, ok := literalString(c.Body, name); ok && (slices.Contains(public, v) || name == "domain") {
				probs = append(probs, fmt.Sprintf("%s: access %s %q opens the dataset beyond the project", address(ds), name, v))
			}
			if _, ok := c.Body.Attributes[name]; ok && name == "iam_member" {
				if _, lit := literalString(c.Body, name); !lit {
					probs = append(probs, address(ds)+": access iam_member is not a constant: cannot tell it is not public")
				}
			}
		}
	}
	for _, typ := range []string{"google_bigquery_dataset_iam_member", "google_bigquery_dataset_iam_binding", "google_bigquery_dataset_iam_policy", "google_bigquery_dataset_access", "google_bigquery_table_iam_member", "google_bigquery_table_iam_binding", "google_bigquery_table_iam_policy"} {
		for _, b := range m.resources(typ) {
			for _, s := range stringLiterals(b) {
				for _, p := range public {
					if strings.Contains(s, p) {
						probs = append(probs, fmt.Sprintf("%s: grants %q", address(b), s))
					}
				}
			}
		}
	}
	return probs
}

// checkSourceURIs wants the table to read exactly gs://<runs bucket>/<prefix>*.
func checkSourceURIs(ctx *hcl.EvalContext, addr string, ext *hclsyntax.Block, prefix string) []string {
	a, ok := ext.Body.Attributes["source_uris"]
	if !ok {
		return []string{addr + ": no source_uris"}
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || !v.CanIterateElements() {
		return []string{fmt.Sprintf("%s: source_uris cannot be evaluated offline: %v", addr, diags)}
	}
	want := "gs://" + testBucket + "/" + prefix + "*"
	var got []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() == cty.String {
			got = append(got, e.AsString())
		}
	}
	if len(got) != 1 || got[0] != want {
		return []string{fmt.Sprintf("%s: source_uris %q, want [%q] (the runs bucket's %s)", addr, got, want, prefix)}
	}
	return nil
}

// checkSchemaFile wants external_data_configuration.schema to be
// file(<the schema file>) and that file to be what package index embeds.
func checkSchemaFile(ctx *hcl.EvalContext, root, addr string, ext *hclsyntax.Block, want bigqueryTable) []string {
	a, ok := ext.Body.Attributes["schema"]
	if !ok {
		return []string{addr + ": no external_data_configuration.schema (autodetection would guess the types)"}
	}
	call, ok := a.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "file" || len(call.Args) != 1 {
		return []string{addr + `: schema is not file("...") of a schema file of the repository`}
	}
	p, diags := call.Args[0].Value(ctx)
	if diags.HasErrors() || !p.IsWhollyKnown() || p.Type() != cty.String {
		return []string{fmt.Sprintf("%s: schema file name cannot be evaluated offline: %v", addr, diags)}
	}
	// path.module is deploy/terraform.
	rel := filepath.ToSlash(filepath.Clean(filepath.Join("deploy/terraform", p.AsString())))
	if rel != want.schemaFile {
		return []string{fmt.Sprintf("%s: schema file %s, want %s", addr, rel, want.schemaFile)}
	}
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", addr, err)}
	}
	if !bytes.Equal(b, want.schema) {
		return []string{fmt.Sprintf("%s: %s differs from the schema package index embeds", addr, rel)}
	}
	return nil
}

// TestBigQuery checks bigquery.tf: the dataset and tables exist, the
// dataset is private and where the bucket is, and each table reads its
// prefix of the runs bucket with the schema the rows are tested against.
func TestBigQuery(t *testing.T) {
	m, err := parseDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if probs := checkBigQuery(filepath.Join("..", ".."))(m); len(probs) > 0 {
		t.Errorf("%d problems:\n%s", len(probs), strings.Join(probs, "\n"))
	}
	outputs := map[string]bool{}
	for _, o := range m.ofType("output") {
		outputs[o.Labels[0]] = true
	}
	if !outputs["bigquery_example_query"] {
		t.Error("no output bigquery_example_query")
	}
}

// validBigQuery is a small module that passes checkBigQuery; each row of
// TestBigQueryChecksFail breaks it one way.
const validBigQuery = `
resource "google_storage_bucket" "runs" {
  name     = "b"
  location = var.region
}
resource "google_bigquery_dataset" "history" {
  dataset_id = "h"
  location   = var.region
}
resource "google_bigquery_table" "runs" {
  dataset_id = google_bigquery_dataset.history.dataset_id
  table_id   = "runs"
  external_data_configuration {
    source_format = "NEWLINE_DELIMITED_JSON"
    autodetect    = false
    source_uris   = ["gs://${google_storage_bucket.runs.name}/index/*"]
    schema        = file("${path.module}/../../shared/index/schema/runs.json")
  }
}
resource "google_bigquery_table" "slices" {
  dataset_id = google_bigquery_dataset.history.dataset_id
  table_id   = "slices"
  external_data_configuration {
    source_format = "NEWLINE_DELIMITED_JSON"
    autodetect    = false
    source_uris   = ["gs://${google_storage_bucket.runs.name}/index-slices/*"]
    schema        = file("${path.module}/../../shared/index/schema/slices.json")
  }
}
`

func TestBigQueryChecksFail(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string // "" = no problem
	}{
		{name: "valid"},
		{name: "no dataset", old: `resource "google_bigquery_dataset" "history"`, new: `resource "google_other" "history"`, want: "0 google_bigquery_dataset"},
		{name: "dataset elsewhere", old: "  dataset_id = \"h\"\n  location   = var.region", new: "  dataset_id = \"h\"\n  location   = \"US\"", want: "is not the runs bucket's"},
		{name: "dataset without location", old: "  dataset_id = \"h\"\n  location   = var.region", new: "  dataset_id = \"h\"", want: "no location"},
		{name: "public access block", old: "  location   = var.region\n}\nresource \"google_bigquery_table\" \"runs\"",
			new: "  location   = var.region\n  access {\n    role          = \"READER\"\n    special_group = \"allAuthenticatedUsers\"\n  }\n}\nresource \"google_bigquery_table\" \"runs\"", want: "opens the dataset beyond the project"},
		{name: "public IAM member", old: "resource \"google_bigquery_table\" \"runs\"",
			new: "resource \"google_bigquery_dataset_iam_member\" \"pub\" {\n  member = \"allUsers\"\n}\nresource \"google_bigquery_table\" \"runs\"", want: `grants "allUsers"`},
		{name: "table missing", old: `table_id   = "slices"`, new: `table_id   = "slice"`, want: `table_id "slice" is none of`},
		{name: "autodetect", old: "    autodetect    = false\n    source_uris   = [\"gs://${google_storage_bucket.runs.name}/index/*\"]",
			new: "    autodetect    = true\n    source_uris   = [\"gs://${google_storage_bucket.runs.name}/index/*\"]", want: "autodetect is not false"},
		{name: "unknown values ignored", old: "    autodetect    = false\n    source_uris   = [\"gs://${google_storage_bucket.runs.name}/index/*\"]",
			new: "    autodetect    = false\n    ignore_unknown_values = true\n    source_uris   = [\"gs://${google_storage_bucket.runs.name}/index/*\"]", want: "ignore_unknown_values is true"},
		{name: "wrong prefix", old: `/index/*"]`, new: `/runs/*"]`, want: "source_uris"},
		{name: "another bucket", old: `["gs://${google_storage_bucket.runs.name}/index-slices/*"]`, new: `["gs://other/index-slices/*"]`, want: "source_uris"},
		{name: "CSV", old: `source_format = "NEWLINE_DELIMITED_JSON"`, new: `source_format = "CSV"`, want: "want NEWLINE_DELIMITED_JSON"},
		{name: "schema swapped", old: "schema/runs.json", new: "schema/slices.json", want: "want shared/index/schema/runs.json"},
		{name: "inline schema", old: `schema        = file("${path.module}/../../shared/index/schema/runs.json")`, new: `schema        = "[]"`, want: "is not file("},
		{name: "not external", old: "  external_data_configuration {\n    source_format = \"NEWLINE_DELIMITED_JSON\"\n    autodetect    = false\n    source_uris   = [\"gs://${google_storage_bucket.runs.name}/index/*\"]\n    schema        = file(\"${path.module}/../../shared/index/schema/runs.json\")\n  }\n",
			new: "", want: "no external_data_configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := validBigQuery
			if tt.old != "" {
				if !strings.Contains(src, tt.old) {
					t.Fatalf("the valid module has no %q", tt.old)
				}
				src = strings.Replace(src, tt.old, tt.new, 1)
			}
			m, err := parseFiles(map[string][]byte{"bq.tf": []byte(src)})
			if err != nil {
				t.Fatal(err)
			}
			probs := checkBigQuery(filepath.Join("..", ".."))(m)
			if tt.want == "" {
				if len(probs) > 0 {
					t.Errorf("valid module: %v", probs)
				}
				return
			}
			for _, p := range probs {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("problems %v, want one containing %q", probs, tt.want)
		})
	}
}
