package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Bounds on what a target's template renders, whoever runs it. An
// operator's tighter bounds come in RenderLimits (shared/policy).
const (
	MaxRenderedBody  = 16 << 20  // one text's body or gRPC request JSON
	MaxRenderedTotal = 256 << 20 // the bodies of all the texts together
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
}

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
	Field string // "target.body" or "target.request"
	Index int
	Err   error
}

func (e *RenderError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("render %s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("render %s for text %d: %v", e.Field, e.Index, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Render renders the HTTP body (or the gRPC request JSON) once per text,
// within lim, so that the load engine never runs a template on the hot
// path. Without a template every body is nil. For gRPC each rendering must
// be valid JSON. It fails with a *RenderError naming the first text that
// fails.
func (t *Target) Render(texts []string, lim RenderLimits) ([][]byte, error) {
	out := make([][]byte, len(texts))
	err := t.render(texts, lim, func(i int, b []byte) { out[i] = bytes.Clone(b) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CheckRender renders every text as Render does, keeping nothing: what a
// component that does not send the requests checks before accepting them.
func (t *Target) CheckRender(texts []string, lim RenderLimits) error {
	return t.render(texts, lim, nil)
}

// RenderBodies is Render within the package's bounds.
func (t *Target) RenderBodies(texts []string) ([][]byte, error) {
	return t.Render(texts, RenderLimits{})
}

func (t *Target) render(texts []string, lim RenderLimits, keep func(int, []byte)) error {
	src, field := t.Body, "target.body"
	if t.Protocol == ProtocolGRPC {
		src, field = t.Request, "target.request"
	}
	if src == "" {
		return nil
	}
	lim = lim.withDefaults()
	tmpl, err := parseTemplate(src)
	if err != nil {
		return &RenderError{Field: field, Index: -1, Err: err}
	}
	w := &boundedWriter{max: lim.MaxBody, deadline: lim.Deadline}
	var total int64
	for i, text := range texts {
		w.buf.Reset()
		if err := w.late(); err != nil {
			return &RenderError{Field: field, Index: i, Err: err}
		}
		if err := tmpl.Execute(w, TemplateData{Text: text, Index: i}); err != nil {
			return &RenderError{Field: field, Index: i, Err: err}
		}
		b := w.buf.Bytes()
		if total += int64(len(b)); total > lim.MaxTotal {
			return &RenderError{Field: field, Index: i, Err: fmt.Errorf("%w: the bodies of texts 0..%d add up to more than %d bytes", ErrBodiesTooLarge, i, lim.MaxTotal)}
		}
		if t.Protocol == ProtocolGRPC && !json.Valid(b) {
			return &RenderError{Field: field, Index: i, Err: fmt.Errorf("not valid JSON: %q", truncate(string(b), 80))}
		}
		if keep != nil {
			keep(i, b)
		}
	}
	return nil
}

// boundedWriter collects one rendering and fails the template's execution
// as soon as it grows past max bytes or its deadline passes, so that no
// template costs more than its limits, whatever it holds.
type boundedWriter struct {
	buf      bytes.Buffer
	max      int64
	deadline time.Time
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
var templateFuncs = template.FuncMap{"json": jsonString}

// allowedFuncs are the functions a template may call: the project's own
// and the builtins whose output is bounded by their input. printf is not
// among them (a width of a billion is a billion bytes before any limit can
// see them), nor call.
var allowedFuncs = map[string]bool{
	"json": true,
	"and":  true, "or": true, "not": true,
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
const errProgram = "is not allowed: a template is data, not a program (use .Text, .Index, fields, if, json and the comparison builtins)"

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
