package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes one line per row; the reasons of rows that did not run
// follow the table, numbered.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tscenario\tvariant\trequests\terrors\treq/s\tCPU s\tCPU µs/req\tp50 ms\tp99 ms\t")
	var notes []string
	for _, r := range rows {
		if r.Status != "ok" {
			notes = append(notes, r.Status)
			word, _, _ := strings.Cut(r.Status, ":")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s [%d]\t-\t-\t-\t-\t-\t-\t\n", r.Tool, r.Scenario, dash(r.Variant), word, len(notes))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.1f\t%s\t%s\t\n",
			r.Tool, r.Scenario, dash(r.Variant), r.Res.Requests, r.Res.Errors, r.Res.RPS,
			r.CPU.Seconds(), r.usPerRequest(), ms(r.Res.P50), ms(r.Res.P99))
	}
	tw.Flush()
	for i, n := range notes {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
}

// goal is one of the generator's speed goals (docs/engine.md), judged on
// the measured rows.
type goal struct {
	name  string
	value func(rows []row) (float64, bool)
	limit float64
	unit  string
	below bool // strictly below the limit, else at most the limit
}

// printGoals writes each goal's measured value and whether it is met.
func printGoals(w io.Writer, rows []row, rate int) {
	goals := []goal{
		{name: "cicada http max µs/req ÷ wrk µs/req", limit: 1.3, unit: "×",
			value: ratio(find(scHTTPMax, "cicada", ""), find(scHTTPMax, "wrk", ""))},
		{name: fmt.Sprintf("cicada µs/req at %d req/s", rate), limit: 30, unit: " µs",
			value: func(rows []row) (float64, bool) { return find(scHTTPRate, "cicada", "")(rows) }},
		{name: "cicada grpc conns=1 µs/req ÷ ghz µs/req", limit: 1, unit: "×", below: true,
			value: ratio(find(scGRPCMax, "cicada", "conns=1"), find(scGRPCMax, "ghz", ""))},
		{name: "cicada grpc conns=4 µs/req ÷ ghz µs/req", limit: 1, unit: "×", below: true,
			value: ratio(find(scGRPCMax, "cicada", "conns=4"), find(scGRPCMax, "ghz", ""))},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range goals {
		op := "≤"
		if g.below {
			op = "<"
		}
		v, ok := g.value(rows)
		if !ok {
			fmt.Fprintf(tw, "goal\t%s\t%s %g%s\tn/a (not measured)\n", g.name, op, g.limit, g.unit)
			continue
		}
		met := v <= g.limit
		if g.below {
			met = v < g.limit
		}
		verdict := "FAIL"
		if met {
			verdict = "PASS"
		}
		fmt.Fprintf(tw, "goal\t%s\t%s %g%s\t%.2f%s\t%s\n", g.name, op, g.limit, g.unit, v, g.unit, verdict)
	}
	tw.Flush()
}

// find returns a lookup of a successful row's µs/request.
func find(scenario, tool, variant string) func([]row) (float64, bool) {
	return func(rows []row) (float64, bool) {
		for _, r := range rows {
			if r.Scenario == scenario && r.Tool == tool && r.Variant == variant {
				v := r.usPerRequest()
				return v, v > 0
			}
		}
		return 0, false
	}
}

func ratio(num, den func([]row) (float64, bool)) func([]row) (float64, bool) {
	return func(rows []row) (float64, bool) {
		n, ok1 := num(rows)
		d, ok2 := den(rows)
		if !ok1 || !ok2 {
			return 0, false
		}
		return n / d, true
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
