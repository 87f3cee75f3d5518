package plan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"
)

// Bounds on what a target's template renders, whoever runs it. An
// operator's tighter bounds come in RenderLimits (shared/policy).
const (
	MaxRenderedBody  = 16 << 20 // one text's body or gRPC request JSON
	MaxRenderedTotal = 4 << 30  // the bodies of all the texts together (a worker's memory budget stops it sooner)
)

// Errors of rendering, wrapped in a *RenderError.
var (
	ErrBodyTooLarge   = errors.New("rendered body too large")
	ErrBodiesTooLarge = errors.New("rendered bodies too large in all")
	ErrRenderDeadline = errors.New("rendering took too long")
)

// RenderLimits bound the rendering of a target's bodies. Zero fields take
// the package's bounds (MaxRenderedBody, MaxRenderedTotal) and no deadline.
type RenderLimits struct {
	MaxBody  int64     // bytes of one text's body
	MaxTotal int64     // bytes of all the bodies
	Deadline time.Time // rendering stops with ErrRenderDeadline past it
	// Check, if set, is called every checkEvery requests rendered; its
	// error stops the rendering (a worker's memory budget).
	Check func() error
}

// checkEvery is how many requests are rendered between RenderLimits.Check
// calls.
const checkEvery = 4096

func (l RenderLimits) withDefaults() RenderLimits {
	if l.MaxBody <= 0 || l.MaxBody > MaxRenderedBody {
		l.MaxBody = MaxRenderedBody
	}
	if l.MaxTotal <= 0 || l.MaxTotal > MaxRenderedTotal {
		l.MaxTotal = MaxRenderedTotal
	}
	return l
}

// RenderError is a template that cannot be rendered, for the text at
// Index, or (Index -1) for any text.
type RenderError struct {
	Field string // "target.body", "target.request" or "target.check.equals"
	Index int    // the corpus index of the text (a request's first text), or -1
	// Request is the request being rendered when the target has a batch,
	// else -1: with a batch a body is a request's, not one text's.
	Request int
	Err     error
}

func (e *RenderError) Error() string {
	switch {
	case e.Index < 0:
		return fmt.Sprintf("render %s: %v", e.Field, e.Err)
	case e.Request >= 0:
		return fmt.Sprintf("render %s for request %d (from text %d): %v", e.Field, e.Request, e.Index, e.Err)
	}
	return fmt.Sprintf("render %s for text %d: %v", e.Field, e.Index, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Rendered is a target's requests, rendered once before the run so that
// the load engine never runs a template on the hot path.
type Rendered struct {
	// Bodies holds one HTTP body or gRPC request JSON per request (nil
	// when the target has no template); there are ceil(len(texts)/Batch).
	Bodies [][]byte
	// Batch is the number of texts each request carries (>= 1).
	Batch int
	// First[i] is the corpus index of request i's first text; its
	// instance j is text (First[i]+j) % len(texts), so that the last
	// request wraps around to the corpus's start.
	First []int
	// Expect[i][j] is check.equals rendered for instance j of request i,
	// nil without a check.
	Expect [][]string
	// CorpusChars[k] is the length of corpus text k in characters.
	CorpusChars []int32
}

// NumRequests is the number of distinct requests rendered.
func (r *Rendered) NumRequests() int { return len(r.Bodies) }

// Text returns the corpus index of instance j of request i.
func (r *Rendered) Text(i, j int) int { return (r.First[i] + j) % len(r.CorpusChars) }

// RenderRequests renders the target's requests from c, within lim: one
// body (or gRPC request JSON) per target.batch texts, and with a check the
// expected value of every instance. For gRPC each rendering must be valid
// JSON. It fails with a *RenderError naming the field and the first text
// (or request) that fails.
func (t *Target) RenderRequests(c *Corpus, lim RenderLimits) (*Rendered, error) {
	r := &Rendered{Batch: t.BatchSize()}
	if err := t.renderRequests(c, lim, r); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckRequests renders every request as RenderRequests does, keeping
// nothing: what a component that does not send the requests checks before
// accepting them.
func (t *Target) CheckRequests(c *Corpus, lim RenderLimits) error {
	return t.renderRequests(c, lim, nil)
}

// Render renders the target's request bodies for texts, as RenderRequests
// does for a corpus of plain texts: one per text without a batch.
func (t *Target) Render(texts []string, lim RenderLimits) ([][]byte, error) {
	r, err := t.RenderRequests(&Corpus{Texts: texts}, lim)
	if err != nil {
		return nil, err
	}
	return r.Bodies, nil
}

// CheckRender is CheckRequests for a corpus of plain texts.
func (t *Target) CheckRender(texts []string, lim RenderLimits) error {
	return t.CheckRequests(&Corpus{Texts: texts}, lim)
}

// RenderBodies is Render within the package's bounds.
func (t *Target) RenderBodies(texts []string) ([][]byte, error) {
	return t.Render(texts, RenderLimits{})
}

// record returns text k's record: its JSONL record, else {"text": text}.
func (c *Corpus) record(k int) map[string]any {
	if rec := c.Record(k); rec != nil {
		return rec
	}
	return map[string]any{"text": c.Texts[k]}
}

// renderRequests renders the requests and the expected values, into out
// unless it is nil.
func (t *Target) renderRequests(c *Corpus, lim RenderLimits, out *Rendered) error {
	src, field := t.Body, "target.body"
	if t.Protocol == ProtocolGRPC {
		src, field = t.Request, "target.request"
	}
	lim = lim.withDefaults()
	batch := t.BatchSize()
	n := len(c.Texts)
	nreq := (n + batch - 1) / batch
	if out != nil {
		out.Batch = batch
		out.Bodies = make([][]byte, nreq)
		out.First = make([]int, nreq)
		out.CorpusChars = make([]int32, n)
		for i := range out.First {
			out.First[i] = i * batch
		}
		for k, s := range c.Texts {
			out.CorpusChars[k] = int32(min(utf8.RuneCountInString(s), math.MaxInt32))
		}
	}
	var body, equals *template.Template
	if src != "" {
		var err error
		if body, err = parseTemplate(src); err != nil {
			return &RenderError{Field: field, Index: -1, Request: -1, Err: err}
		}
	}
	if t.Check != nil {
		var err error
		if equals, err = parseTemplate(t.Check.Equals); err != nil {
			return &RenderError{Field: "target.check.equals", Index: -1, Request: -1, Err: err}
		}
	}
	w := &boundedWriter{max: lim.MaxBody, deadline: lim.Deadline}
	var total int64
	if body != nil {
		request := func(i int) int {
			if batch > 1 {
				return i
			}
			return -1
		}
		records := usesRecords(body)
		fast, isFast := compileFast(body)
		texts := make([]string, batch)
		var recs []map[string]any
		if records {
			recs = make([]map[string]any, batch)
		}
		for i := range nreq {
			first := i * batch
			if lim.Check != nil && i%checkEvery == checkEvery-1 {
				if err := lim.Check(); err != nil {
					return &RenderError{Field: field, Index: first, Request: request(i), Err: err}
				}
			}
			for j := range batch {
				k := (first + j) % n
				texts[j] = c.Texts[k]
				if records {
					recs[j] = c.record(k)
				}
			}
			d := TemplateData{Text: texts[0], Index: first, Texts: texts, Records: recs}
			if records {
				d.Record = recs[0]
			}
			var b []byte
			var err error
			if isFast {
				b, err = w.renderFast(fast, &d)
			} else {
				b, err = w.render(body, d)
			}
			if err != nil {
				return &RenderError{Field: field, Index: first, Request: request(i), Err: err}
			}
			if total += int64(len(b)); total > lim.MaxTotal {
				return &RenderError{Field: field, Index: first, Request: request(i), Err: fmt.Errorf("%w: the bodies of requests 0..%d add up to more than %d bytes", ErrBodiesTooLarge, i, lim.MaxTotal)}
			}
			if t.Protocol == ProtocolGRPC && !json.Valid(b) {
				return &RenderError{Field: field, Index: first, Request: request(i), Err: fmt.Errorf("not valid JSON: %q", truncate(string(b), 80))}
			}
			if out != nil {
				out.Bodies[i] = bytes.Clone(b)
			}
		}
	}
	if equals == nil {
		return nil
	}
	// The expected value is a text's, whichever request carries it: render
	// it once per text and share the string.
	var byText []string
	if out != nil {
		byText = make([]string, n)
	}
	records := usesRecords(equals)
	for k, text := range c.Texts {
		d := TemplateData{Text: text, Index: k, Texts: []string{text}}
		if records {
			d.Record = c.record(k)
			d.Records = []map[string]any{d.Record}
		}
		b, err := w.render(equals, d)
		if err != nil {
			return &RenderError{Field: "target.check.equals", Index: k, Request: -1, Err: err}
		}
		if total += int64(len(b)); total > lim.MaxTotal {
			return &RenderError{Field: "target.check.equals", Index: k, Request: -1, Err: fmt.Errorf("%w: the bodies and the expected values up to text %d add up to more than %d bytes", ErrBodiesTooLarge, k, lim.MaxTotal)}
		}
		if out != nil {
			byText[k] = string(b)
		}
	}
	if out != nil {
		flat := make([]string, nreq*batch)
		out.Expect = make([][]string, nreq)
		for i := range nreq {
			e := flat[i*batch : (i+1)*batch : (i+1)*batch]
			for j := range e {
				e[j] = byText[(i*batch+j)%n]
			}
			out.Expect[i] = e
		}
	}
	return nil
}

// boundedWriter collects one rendering and fails the template's execution
// as soon as it grows past max bytes or its deadline passes, so that no
// template costs more than its limits, whatever it holds.
type boundedWriter struct {
	buf      bytes.Buffer
	scratch  []byte // renderFast's output, reused
	max      int64
	deadline time.Time
}

// render executes t for d into w's buffer, which the result aliases until
// the next render.
func (w *boundedWriter) render(t *template.Template, d TemplateData) ([]byte, error) {
	w.buf.Reset()
	if err := w.late(); err != nil {
		return nil, err
	}
	if err := t.Execute(w, d); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// renderFast is render for a fastTemplate: the same bytes and bounds.
func (w *boundedWriter) renderFast(f fastTemplate, d *TemplateData) ([]byte, error) {
	if err := w.late(); err != nil {
		return nil, err
	}
	w.scratch = f.render(w.scratch[:0], d)
	if int64(len(w.scratch)) > w.max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, w.max)
	}
	return w.scratch, nil
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if int64(w.buf.Len())+int64(len(p)) > w.max {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, w.max)
	}
	if err := w.late(); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

func (w *boundedWriter) late() error {
	if !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return ErrRenderDeadline
	}
	return nil
}

// templateFuncs are the functions a body or request template may call
// beyond text/template's builtins.
var templateFuncs = template.FuncMap{"json": jsonString, "base64": base64Of}

// base64Of is the template function base64: the standard base64 of a
// string, or of each string of a list ({{json (base64 .Texts)}} for a
// protojson bytes list).
func base64Of(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return base64.StdEncoding.EncodeToString([]byte(v)), nil
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = base64.StdEncoding.EncodeToString([]byte(s))
		}
		return out, nil
	}
	return nil, fmt.Errorf("base64 takes a string or a list of strings, got %T", v)
}

// allowedFuncs are the functions a template may call: the project's own
// and the builtins whose output is bounded by their input. printf is not
// among them (a width of a billion is a billion bytes before any limit can
// see them), nor call.
var allowedFuncs = map[string]bool{
	"json": true, "base64": true,
	"and": true, "or": true, "not": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"len": true, "index": true, "slice": true,
	"html": true, "js": true, "urlquery": true, "print": true, "println": true,
}

// parseTemplate parses a body or request template and refuses what makes
// it a program rather than data (checkTemplate).
func parseTemplate(text string) (*template.Template, error) {
	t, err := template.New("body").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	if err := checkTemplate(t); err != nil {
		return nil, err
	}
	return t, nil
}

// errProgram ends the reason of a refused template node.
const errProgram = "is not allowed: a template is data, not a program (use .Text, .Index, .Texts, .Record, .Records, fields, if, json, base64 and the comparison builtins)"

// checkTemplate walks t's parse tree and refuses range, with, define,
// block, template, break, continue and any function but allowedFuncs, so
// that rendering one text costs in proportion to the template and the text.
func checkTemplate(t *template.Template) error {
	for _, x := range t.Templates() {
		if x.Name() != t.Name() {
			return fmt.Errorf("{{define %q}} (or {{block}}) %s", x.Name(), errProgram)
		}
	}
	if t.Tree == nil {
		return nil
	}
	c := tmplChecker{t: t}
	c.node(t.Tree.Root)
	return c.err
}

type tmplChecker struct {
	t   *template.Template
	err error
}

func (c *tmplChecker) refuse(n parse.Node, what string) {
	if c.err != nil {
		return
	}
	// The column is the node's, often inside the action: the line says
	// enough.
	loc, _ := c.t.ErrorContext(n)
	line, _, _ := strings.Cut(strings.TrimPrefix(loc, c.t.Name()+":"), ":")
	c.err = fmt.Errorf("%s on line %s %s", what, line, errProgram)
}

func (c *tmplChecker) node(n parse.Node) {
	if c.err != nil || n == nil {
		return
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			c.node(x)
		}
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		c.pipe(n.Pipe)
	case *parse.IfNode:
		c.pipe(n.Pipe)
		c.node(n.List)
		c.node(n.ElseList)
	case *parse.RangeNode:
		c.refuse(n, "{{range}}")
	case *parse.WithNode:
		c.refuse(n, "{{with}}")
	case *parse.TemplateNode:
		c.refuse(n, "{{template}}")
	case *parse.BreakNode:
		c.refuse(n, "{{break}}")
	case *parse.ContinueNode:
		c.refuse(n, "{{continue}}")
	default:
		c.refuse(n, fmt.Sprintf("%q", n.String()))
	}
}

func (c *tmplChecker) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		for _, a := range cmd.Args {
			c.arg(a)
		}
	}
}

func (c *tmplChecker) arg(n parse.Node) {
	if c.err != nil {
		return
	}
	switch n := n.(type) {
	case *parse.IdentifierNode:
		if !allowedFuncs[n.Ident] {
			c.refuse(n, fmt.Sprintf("function %q", n.Ident))
		}
	case *parse.PipeNode:
		c.pipe(n)
	case *parse.ChainNode:
		c.arg(n.Node)
	case *parse.FieldNode, *parse.VariableNode, *parse.DotNode,
		*parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
	default:
		c.refuse(n, fmt.Sprintf("%q", n.String()))
	}
}
