package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cicadaload/cicada/shared/runid"
	"github.com/cicadaload/cicada/shared/threshold"
)

// Limits enforced by Validate. An operator's tighter limits (allowed hosts,
// max rate) are applied by the trigger on top of these.
const (
	MaxNameLen      = 100
	MaxTimeout      = 5 * time.Minute
	MaxConnections  = 10_000
	MaxStages       = 100
	MaxRate         = 1e6
	MaxUsers        = 100_000
	MaxInFlight     = 1_000_000
	MinSlice        = 100 * time.Millisecond
	MaxSlice        = time.Hour
	MaxShards       = 1000
	MaxStartDelay   = time.Hour
	MaxPlanDuration = 24 * time.Hour
)

// Problem is one thing wrong with a plan: the field path, as written in the
// plan (load.stages[1].rate), and why.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// String formats the problem as "path: reason".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// ValidationError lists every problem found in a plan.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "invalid plan: %d problem", n)
	if n != 1 {
		b.WriteString("s")
	}
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks the plan as it will run (with defaults applied to a copy,
// so p is not modified) and returns a *ValidationError listing every
// problem, or nil.
func (p *Plan) Validate() error {
	if probs := p.problems(); len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

type checker struct{ probs []Problem }

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// problems returns what is wrong with p once defaults are applied. Defaults
// only set top-level scalars, so a shallow copy keeps p untouched.
func (p *Plan) problems() []Problem {
	q := *p
	q.ApplyDefaults()
	var c checker
	switch n := utf8.RuneCountInString(q.Name); {
	case q.Name == "":
		c.add("name", "required")
	case n > MaxNameLen:
		c.add("name", "at most %d characters, got %d", MaxNameLen, n)
	case strings.ContainsFunc(q.Name, unicode.IsControl) || !utf8.ValidString(q.Name):
		c.add("name", "must not contain control characters")
	}
	c.target(&q.Target)
	c.data(&q.Data)
	c.load(&q.Load)
	durationRange(&c, "slice", q.Slice.D(), MinSlice, MaxSlice)
	if q.Shards < 1 || q.Shards > MaxShards {
		c.add("shards", "must be 1..%d, got %d", MaxShards, q.Shards)
	}
	durationRange(&c, "start_delay", q.StartDelay.D(), 0, MaxStartDelay)
	c.thresholds(&q)
	c.verdict(&q)
	return c.probs
}

// thresholds parses each threshold, and checks what depends on the plan:
// a stage the plan has and that holds a whole slice, a warm-up shorter than
// the run (or the stage), an abort count the slices can reach.
func (c *checker) thresholds(p *Plan) {
	stages := make([]time.Duration, len(p.Load.Stages))
	stagesOK := len(stages) > 0
	for i, s := range p.Load.Stages {
		stages[i] = s.Duration.D()
		stagesOK = stagesOK && stages[i] > 0 // else load.stages says why
	}
	d, slice := p.Duration(), p.SliceDuration()
	for i, expr := range p.Thresholds {
		at := fmt.Sprintf("thresholds[%d]", i)
		t, err := threshold.Parse(expr)
		if err != nil {
			c.add(at, "%v", err)
			continue
		}
		if t.Stage > 0 {
			c.stageThreshold(at, t, stages, stagesOK, d, slice)
			continue
		}
		if d > 0 && t.IgnoreFirst >= d {
			c.add(at, "threshold %q: ignore_first %v leaves nothing to judge in a plan of %v", t.Expr, t.IgnoreFirst, d)
		}
		if n := p.NumSlices(); n > 0 && t.AbortOnFail > n {
			c.add(at, "threshold %q: abort_on_fail %d can never trigger, the plan has %d slices", t.Expr, t.AbortOnFail, n)
		}
	}
}

// stageThreshold checks a threshold judged on one stage: the stage exists,
// holds at least one whole slice (a slice straddling the stage's start or
// end is not judged), and leaves something to judge after ignore_first.
func (c *checker) stageThreshold(at string, t threshold.Threshold, stages []time.Duration, stagesOK bool, d, slice time.Duration) {
	t, err := t.ForStages(stages)
	if err != nil {
		c.add(at, "%v", err)
		return
	}
	if !stagesOK || slice <= 0 {
		return
	}
	w := t.Window
	whole := t
	whole.IgnoreFirst = 0
	inStage := whole.JudgedSlices(d, slice)
	if inStage == 0 {
		c.add(at, "threshold %q: stage %d (%v to %v) holds no whole slice of %v, so there is nothing to judge (a slice straddling a stage boundary is not judged)",
			t.Expr, t.Stage, w.From, w.To, slice)
		return
	}
	n := t.JudgedSlices(d, slice)
	if n == 0 {
		c.add(at, "threshold %q: ignore_first %v (counted from the run's start) leaves nothing to judge in stage %d (%v to %v)",
			t.Expr, t.IgnoreFirst, t.Stage, w.From, w.To)
		return
	}
	if t.AbortOnFail > n {
		c.add(at, "threshold %q: abort_on_fail %d can never trigger, stage %d has %d judged slices", t.Expr, t.AbortOnFail, t.Stage, n)
	}
}

// verdict checks the fields that decide the verdict and the comparison.
// Zero means the default: min_coverage 100, max_lateness 50ms,
// compare_tolerance 10.
func (c *checker) verdict(p *Plan) {
	switch mc := p.MinCoverage; {
	case math.IsNaN(mc) || math.IsInf(mc, 0):
		c.add("min_coverage", "must be a finite number")
	case mc < 0 || mc > 100:
		c.add("min_coverage", "must be 0..100 (percent of shard slices), got %v", mc)
	}
	if p.MaxLateness < 0 {
		c.add("max_lateness", "must be >= 0, got %v", p.MaxLateness)
	}
	switch ct := p.CompareTolerance; {
	case math.IsNaN(ct) || math.IsInf(ct, 0):
		c.add("compare_tolerance", "must be a finite number")
	case ct < 0:
		c.add("compare_tolerance", "must be >= 0 (percent), got %v", ct)
	}
	if b := p.Baseline; b != "" && b != BaselineLastPass {
		if err := runid.Valid(b); err != nil {
			c.add("baseline", "want %q or a run id like 20261127-040512-3f9a1c, got %q", BaselineLastPass, b)
		}
	}
}

// BaselineLastPass as a plan's baseline compares with the last passing run
// of the plan's name.
const BaselineLastPass = "last-pass"

func durationRange(c *checker, path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		c.add(path, "must be %v..%v, got %v", lo, hi, d)
	}
}

func (c *checker) target(t *Target) {
	switch t.Protocol {
	case "":
		c.add("target.protocol", "required (http or grpc)")
	case ProtocolHTTP:
		c.httpTarget(t)
	case ProtocolGRPC:
		c.grpcTarget(t)
	default:
		c.add("target.protocol", "must be http or grpc, got %q", t.Protocol)
	}
	for _, k := range sortedKeys(anyMap(t.Headers)) {
		if !validToken(k) {
			c.add(mapPath("target.headers", k), "invalid header name")
		}
		if strings.ContainsAny(t.Headers[k], "\r\n\x00") {
			c.add(mapPath("target.headers", k), "header value must not contain CR, LF or NUL")
		}
	}
	if t.Timeout <= 0 || t.Timeout.D() > MaxTimeout {
		c.add("target.timeout", "must be > 0 and <= %v, got %v", MaxTimeout, t.Timeout)
	}
	if t.Connections < 1 || t.Connections > MaxConnections {
		c.add("target.connections", "must be 1..%d, got %d", MaxConnections, t.Connections)
	}
	c.auth(t)
	c.tls(t)
	c.preset(t)
	c.batch(t)
	c.check(t)
	c.protoset(t)
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = nil
	}
	return out
}

func (c *checker) httpTarget(t *Target) {
	if t.URL == "" {
		c.add("target.url", "required for protocol http")
	} else if u, err := url.Parse(t.URL); err != nil {
		c.add("target.url", "invalid URL: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		c.add("target.url", "must be an absolute http:// or https:// URL, got %q", t.URL)
	} else if u.Host == "" || u.Hostname() == "" {
		c.add("target.url", "must name a host, got %q", t.URL)
	}
	if !validToken(t.Method) {
		c.add("target.method", "invalid HTTP method %q", t.Method)
	}
	for i, code := range t.ExpectStatus {
		if code < 100 || code > 599 {
			c.add(fmt.Sprintf("target.expect_status[%d]", i), "must be 100..599, got %d", code)
		}
	}
	if t.Body != "" {
		if _, refs, err := renderSample(t.Body, t.BatchSize()); err != nil {
			c.add("target.body", "%v", err)
		} else {
			c.batchTemplate(t, "target.body", refs)
		}
	} else {
		c.batchTemplate(t, "target.body", tmplRefs{})
	}
	if t.Address != "" {
		c.add("target.address", "only for protocol grpc")
	}
	if t.Request != "" {
		c.add("target.request", "only for protocol grpc (use body)")
	}
}

func (c *checker) grpcTarget(t *Target) {
	if t.Address == "" {
		c.add("target.address", "required for protocol grpc (host:port)")
	} else if host, port, err := net.SplitHostPort(t.Address); err != nil || host == "" || !validPort(port) {
		c.add("target.address", "want host:port, got %q", t.Address)
	}
	if t.Method == "" {
		c.add("target.method", "required for protocol grpc (/package.Service/Method)")
	} else if !validGRPCMethod(t.Method) {
		c.add("target.method", "want /package.Service/Method, got %q", t.Method)
	}
	if t.Request != "" {
		out, refs, err := renderSample(t.Request, t.BatchSize())
		switch {
		case err != nil:
			c.add("target.request", "%v", err)
		case out != nil && !json.Valid(out):
			c.add("target.request", "template does not produce valid JSON: %q", truncate(string(out), 80))
		default:
			c.batchTemplate(t, "target.request", refs)
		}
	} else {
		c.batchTemplate(t, "target.request", tmplRefs{})
	}
	if t.URL != "" {
		c.add("target.url", "only for protocol http")
	}
	if t.Body != "" {
		c.add("target.body", "only for protocol http (use request)")
	}
	if len(t.ExpectStatus) > 0 {
		c.add("target.expect_status", "only for protocol http")
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func validGRPCMethod(m string) bool {
	m = strings.TrimPrefix(m, "/")
	svc, meth, ok := strings.Cut(m, "/")
	if !ok || svc == "" || meth == "" || strings.HasPrefix(svc, ".") || strings.HasSuffix(svc, ".") || strings.Contains(svc, "..") {
		return false
	}
	ident := func(s string, dots bool) bool {
		for _, r := range s {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || dots && r == '.') {
				return false
			}
		}
		return true
	}
	return ident(svc, true) && ident(meth, false)
}

// validToken reports whether s is an RFC 9110 token, the syntax of both
// method names and header field names.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0 {
			continue
		}
		return false
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (c *checker) data(d *Data) {
	var set []string
	if len(d.Texts) > 0 {
		set = append(set, "texts")
	}
	if d.File != "" {
		set = append(set, "file")
	}
	if d.URI != "" {
		set = append(set, "uri")
		if _, _, err := ParseGCSURI(d.URI); err != nil {
			c.add("data.uri", "%v", err)
		}
	}
	switch len(set) {
	case 0:
		c.add("data", "one of texts, file or uri is required")
	case 1:
	default:
		c.add("data", "set exactly one of texts, file or uri, not %s", strings.Join(set, " and "))
	}
	for i, s := range d.Texts {
		if s == "" {
			c.add(fmt.Sprintf("data.texts[%d]", i), "must not be empty")
		}
	}
	if d.Order != OrderSequential && d.Order != OrderRandom {
		c.add("data.order", "must be sequential or random, got %q", d.Order)
	}
}

func (c *checker) load(l *Load) {
	open, closed := l.Model == ModelOpen, l.Model == ModelClosed
	switch {
	case l.Model == "":
		c.add("load.model", "required (open or closed)")
	case !open && !closed:
		c.add("load.model", "must be open or closed, got %q", l.Model)
	}
	switch n := len(l.Stages); {
	case n == 0 && l.Search == nil:
		c.add("load.stages", "at least one stage is required")
	case n > MaxStages:
		c.add("load.stages", "at most %d stages, got %d", MaxStages, n)
	}
	ratesOK := true
	for i, s := range l.Stages {
		at := fmt.Sprintf("load.stages[%d]", i)
		if s.Duration <= 0 {
			c.add(at+".duration", "must be > 0, got %v", s.Duration)
		}
		if !c.rate(at+".rate", s.Rate, closed) {
			ratesOK = false
		}
		if open && s.Users != 0 {
			c.add(at+".users", "not allowed for model open (use rate)")
		}
		if closed {
			c.users(at+".users", s.Users)
		}
	}
	if l.StartRate != nil {
		if closed {
			c.add("load.start_rate", "only for model open (use start_users)")
		} else if !c.rate("load.start_rate", *l.StartRate, false) {
			ratesOK = false
		}
	}
	if l.StartUsers != nil {
		if open {
			c.add("load.start_users", "not allowed for model open (use start_rate)")
		} else if closed {
			c.users("load.start_users", *l.StartUsers)
		}
	}
	if d := stagesDuration(l.Stages); d > MaxPlanDuration {
		c.add("load.stages", "total duration must be <= %v, got %v", MaxPlanDuration, d)
	}
	if open {
		if l.MaxInFlight < 1 || l.MaxInFlight > MaxInFlight {
			c.add("load.max_in_flight", "must be 1..%d, got %d", MaxInFlight, l.MaxInFlight)
		}
		if l.ThinkTime != 0 {
			c.add("load.think_time", "only for model closed")
		}
		if ratesOK && len(l.Stages) > 0 && NewScheduleFrom(*l).Total() == 0 {
			c.add("load.stages", "no load: the stages add up to 0 requests")
		}
	}
	if closed {
		if l.MaxInFlight != 0 {
			c.add("load.max_in_flight", "only for model open")
		}
		if l.ThinkTime < 0 {
			c.add("load.think_time", "must be >= 0, got %v", l.ThinkTime)
		}
		most := 0
		for _, s := range l.Stages {
			most = max(most, s.Users)
		}
		if l.StartUsers != nil {
			most = max(most, *l.StartUsers)
		}
		if len(l.Stages) > 0 && most <= 0 {
			c.add("load.stages", "no load: every stage has 0 users")
		}
	}
}

// rate checks an open-model rate, or its absence in the closed model, and
// reports whether it is usable for computing the schedule.
func (c *checker) rate(path string, r float64, closed bool) bool {
	switch {
	case closed && r != 0:
		c.add(path, "not allowed for model closed (use users)")
	case math.IsNaN(r) || math.IsInf(r, 0):
		c.add(path, "must be a finite number")
	case r < 0:
		c.add(path, "must be >= 0, got %v", r)
	case r > MaxRate:
		c.add(path, "must be <= %g req/s, got %v", MaxRate, r)
	default:
		return true
	}
	return false
}

func (c *checker) users(path string, u int) {
	if u < 0 || u > MaxUsers {
		c.add(path, "must be 0..%d, got %d", MaxUsers, u)
	}
}
