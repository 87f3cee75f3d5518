package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is what one generator run reports about itself. Requests counts
// completed requests (a response or a transport error), the denominator of
// CPU per request; P50 and P99 are zero when the tool does not report them.
type result struct {
	Requests int64
	Errors   int64
	RPS      float64
	P50, P99 time.Duration
}

// parser turns a tool's captured output into a result.
type parser func(out []byte) (result, error)

var (
	wrkRequestsRe = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRPSRe      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkNon2xxRe   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSocketRe   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkPctRe      = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// parseWrk reads wrk's text report (run with --latency for percentiles).
func parseWrk(out []byte) (result, error) {
	s := string(out)
	var r result
	var err error
	if r.Requests, err = matchInt(wrkRequestsRe, s, "requests"); err != nil {
		return r, err
	}
	if r.RPS, err = matchFloat(wrkRPSRe, s, "Requests/sec"); err != nil {
		return r, err
	}
	if m := wrkNon2xxRe.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64) // the regexp admits digits only
		r.Errors += n
	}
	// Read errors and timeouts end requests that wrk does not count in
	// "requests in"; connect and write errors never started one.
	if m := wrkSocketRe.FindStringSubmatch(s); m != nil {
		for _, v := range m[2:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Errors += n
		}
	}
	for _, m := range wrkPctRe.FindAllStringSubmatch(s, -1) {
		d, err := parseUnitDuration(m[2], m[3])
		if err != nil {
			return r, fmt.Errorf("wrk: %s%% latency: %w", m[1], err)
		}
		setPercentile(&r, m[1], d)
	}
	return r, nil
}

var (
	h2loadFinishedRe = regexp.MustCompile(`(?m)^finished in [^,]+, ([0-9.]+) req/s`)
	h2loadRequestsRe = regexp.MustCompile(`(?m)^requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded`)
)

// parseH2load reads h2load's text report. It prints no percentiles.
func parseH2load(out []byte) (result, error) {
	s := string(out)
	var r result
	var err error
	if r.RPS, err = matchFloat(h2loadFinishedRe, s, "finished in"); err != nil {
		return r, err
	}
	m := h2loadRequestsRe.FindStringSubmatch(s)
	if m == nil {
		return r, errors.New(`no "requests: ... done, ... succeeded" line in output`)
	}
	done, _ := strconv.ParseInt(m[1], 10, 64)
	ok, _ := strconv.ParseInt(m[2], 10, 64)
	r.Requests, r.Errors = done, done-ok
	return r, nil
}

// vegetaReport is the part of `vegeta report -type=json` we use.
type vegetaReport struct {
	Latencies struct {
		P50 int64 `json:"50th"`
		P99 int64 `json:"99th"`
	} `json:"latencies"`
	Duration int64   `json:"duration"` // ns, first to last request sent
	Wait     int64   `json:"wait"`     // ns, last request sent to its response
	Requests int64   `json:"requests"`
	Success  float64 `json:"success"` // ratio of 2xx/3xx (or expected) answers
}

// parseVegeta reads vegeta's JSON report.
func parseVegeta(out []byte) (result, error) {
	var v vegetaReport
	if err := json.Unmarshal(out, &v); err != nil {
		return result{}, fmt.Errorf("decode vegeta report: %w", err)
	}
	if v.Requests == 0 || v.Duration+v.Wait <= 0 {
		return result{}, errors.New("vegeta report has no requests")
	}
	ok := int64(v.Success*float64(v.Requests) + 0.5)
	return result{
		Requests: v.Requests,
		Errors:   v.Requests - ok,
		RPS:      float64(v.Requests) / time.Duration(v.Duration+v.Wait).Seconds(),
		P50:      time.Duration(v.Latencies.P50),
		P99:      time.Duration(v.Latencies.P99),
	}, nil
}

var (
	heyRPSRe    = regexp.MustCompile(`(?m)^\s*Requests/sec:\s+([0-9.]+)`)
	heyStatusRe = regexp.MustCompile(`(?m)^\s*\[(\d+)\]\s+(\d+) responses`)
	heyPctRe    = regexp.MustCompile(`(?m)^\s*(50|99)%%? in ([0-9.]+) secs`)
)

// parseHey reads hey's text summary. Responses are counted per status;
// transport errors are listed under "Error distribution" as "[count] message".
func parseHey(out []byte) (result, error) {
	s := string(out)
	var r result
	var err error
	if r.RPS, err = matchFloat(heyRPSRe, s, "Requests/sec"); err != nil {
		return r, err
	}
	for _, m := range heyStatusRe.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		r.Requests += n
		if !strings.HasPrefix(m[1], "2") {
			r.Errors += n
		}
	}
	if _, errs, found := strings.Cut(s, "Error distribution:"); found {
		n := sumBracketCounts(errs)
		r.Requests += n
		r.Errors += n
	}
	if r.Requests == 0 {
		return r, errors.New("hey reported no responses")
	}
	for _, m := range heyPctRe.FindAllStringSubmatch(s, -1) {
		d, err := parseUnitDuration(m[2], "s")
		if err != nil {
			return r, fmt.Errorf("hey: %s%% latency: %w", m[1], err)
		}
		setPercentile(&r, m[1], d)
	}
	return r, nil
}

var (
	ghzCountRe  = regexp.MustCompile(`(?m)^\s*Count:\s+(\d+)`)
	ghzRPSRe    = regexp.MustCompile(`(?m)^\s*Requests/sec:\s+([0-9.]+)`)
	ghzPctRe    = regexp.MustCompile(`(?m)^\s*(50|99) % in ([0-9.]+) (ns|µs|μs|us|ms|s)\s*$`)
	ghzStatusRe = regexp.MustCompile(`(?m)^\s*\[(\w+)\]\s+(\d+) responses`)
)

// parseGhz reads ghz's default "summary" text. (--format json would also
// write every request's details, costing ghz CPU that is not load.)
func parseGhz(out []byte) (result, error) {
	s := string(out)
	var r result
	var err error
	if r.Requests, err = matchInt(ghzCountRe, s, "Count"); err != nil {
		return r, err
	}
	if r.RPS, err = matchFloat(ghzRPSRe, s, "Requests/sec"); err != nil {
		return r, err
	}
	for _, m := range ghzStatusRe.FindAllStringSubmatch(s, -1) {
		if m[1] != "OK" {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			r.Errors += n
		}
	}
	for _, m := range ghzPctRe.FindAllStringSubmatch(s, -1) {
		d, err := parseUnitDuration(m[2], m[3])
		if err != nil {
			return r, fmt.Errorf("ghz: %s%% latency: %w", m[1], err)
		}
		setPercentile(&r, m[1], d)
	}
	return r, nil
}

// cicadaReport is the part of report.json (see the README) we use.
type cicadaReport struct {
	Summary struct {
		Completed *int64  `json:"completed"`
		Errors    int64   `json:"errors"`
		RPS       float64 `json:"rps"`
		LatencyMS struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
	} `json:"summary"`
}

// parseCicada reads cicada's report.json.
func parseCicada(out []byte) (result, error) {
	var c cicadaReport
	if err := json.Unmarshal(out, &c); err != nil {
		return result{}, fmt.Errorf("decode report.json: %w", err)
	}
	if c.Summary.Completed == nil {
		return result{}, errors.New("report.json has no summary.completed")
	}
	return result{
		Requests: *c.Summary.Completed,
		Errors:   c.Summary.Errors,
		RPS:      c.Summary.RPS,
		P50:      msToDuration(c.Summary.LatencyMS.P50),
		P99:      msToDuration(c.Summary.LatencyMS.P99),
	}, nil
}

// sumBracketCounts adds up the N of every line that starts with "[N]".
func sumBracketCounts(s string) int64 {
	var total int64
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") {
			continue
		}
		num, _, ok := strings.Cut(line[1:], "]")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			total += n
		}
	}
	return total
}

func matchInt(re *regexp.Regexp, s, what string) (int64, error) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no %q in output", what)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

func matchFloat(re *regexp.Regexp, s, what string) (float64, error) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no %q in output", what)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

// parseUnitDuration parses a number with a separate unit as the tools print
// them ("1.81" "ms"); µ and μ (micro sign, Greek mu) both mean microseconds.
func parseUnitDuration(num, unit string) (time.Duration, error) {
	switch unit {
	case "µs", "μs":
		unit = "us"
	}
	return time.ParseDuration(num + unit)
}

func msToDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

func setPercentile(r *result, pct string, d time.Duration) {
	if pct == "50" {
		r.P50 = d
	} else {
		r.P99 = d
	}
}
