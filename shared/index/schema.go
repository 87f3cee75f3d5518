package index

import (
	_ "embed" // the BigQuery schemas
	"encoding/json"
	"fmt"
)

// The BigQuery schemas of the rows, in BigQuery's JSON schema format. The
// external tables of deploy/terraform (bigquery.tf) read index/ and
// index-slices/ with these files, and a test checks that every row Write
// produces matches them (docs/history.md).
var (
	//go:embed schema/runs.json
	RunsSchema []byte
	//go:embed schema/slices.json
	SlicesSchema []byte
)

// Column is one column of a BigQuery JSON schema.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // STRING, INT64, FLOAT64, TIMESTAMP, BOOL
	Mode        string `json:"mode"` // NULLABLE, REQUIRED, REPEATED
	Description string `json:"description"`
}

// ParseSchema decodes a BigQuery JSON schema.
func ParseSchema(b []byte) ([]Column, error) {
	var cols []Column
	if err := json.Unmarshal(b, &cols); err != nil {
		return nil, fmt.Errorf("parse BigQuery schema: %w", err)
	}
	return cols, nil
}
