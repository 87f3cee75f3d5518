package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPrintGoals(t *testing.T) {
	ok := func(tool, scenario, variant string, requests int64, cpu time.Duration) row {
		return row{job: job{Tool: tool, Scenario: scenario, Variant: variant}, Status: "ok",
			Res: result{Requests: requests}, CPU: cpu}
	}
	tests := []struct {
		name string
		rows []row
		want []string // substrings of the output, in order
	}{
		{
			name: "all measured",
			rows: []row{
				ok("wrk", scHTTPMax, "", 1000, 10*time.Millisecond),    // 10 µs
				ok("cicada", scHTTPMax, "", 1000, 14*time.Millisecond), // 14 µs: 1.4×
				ok("cicada", scHTTPRate, "", 1000, 25*time.Millisecond),
				ok("ghz", scGRPCMax, "", 1000, 40*time.Millisecond),
				ok("cicada", scGRPCMax, "conns=1", 1000, 20*time.Millisecond),
				ok("cicada", scGRPCMax, "conns=4", 1000, 40*time.Millisecond),
			},
			want: []string{"1.40×", "FAIL", "25.00 µs", "PASS", "0.50×", "PASS", "1.00×", "FAIL"},
		},
		{
			name: "baseline unavailable",
			rows: []row{
				{job: job{Tool: "wrk", Scenario: scHTTPMax}, Status: "unavailable: no apt-get"},
				ok("cicada", scHTTPMax, "", 1000, 14*time.Millisecond),
			},
			want: []string{"wrk µs/req", "n/a", "2000 req/s", "n/a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			printGoals(&buf, tt.rows, 2000)
			out := buf.String()
			for _, w := range tt.want {
				i := strings.Index(out, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, buf.String())
				}
				out = out[i+len(w):]
			}
		})
	}
}

func TestPrintTableNotes(t *testing.T) {
	rows := []row{
		{job: job{Tool: "ghz", Scenario: scGRPCMax}, Status: "unavailable: go install failed"},
		{job: job{Tool: "wrk", Scenario: scHTTPMax}, Status: "ok", Res: result{Requests: 100, RPS: 10}, CPU: time.Millisecond},
	}
	var buf bytes.Buffer
	printTable(&buf, rows)
	out := buf.String()
	for _, w := range []string{"unavailable [1]", "10.0", "[1] unavailable: go install failed"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
