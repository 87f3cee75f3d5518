package plan

import (
	"text/template"
	"text/template/parse"
)

// tmplRefs is what a template refers to in its data, found by walking its
// parse tree: the fields of TemplateData it names, the field paths under
// .Record (and under a record picked from .Records), and whether it hands
// the whole data (a bare . or $) to a function, which may look at anything.
type tmplRefs struct {
	fields  map[string]bool
	record  [][]string
	wholeOf bool
}

func refsOf(t *template.Template) tmplRefs {
	r := tmplRefs{fields: map[string]bool{}}
	if t == nil || t.Tree == nil {
		return r
	}
	r.node(t.Tree.Root)
	return r
}

func (r *tmplRefs) node(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			r.node(x)
		}
	case *parse.ActionNode:
		r.pipe(n.Pipe)
	case *parse.IfNode:
		r.pipe(n.Pipe)
		r.node(n.List)
		r.node(n.ElseList)
	}
}

func (r *tmplRefs) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		for _, a := range cmd.Args {
			r.arg(a)
		}
	}
}

func (r *tmplRefs) arg(n parse.Node) {
	switch n := n.(type) {
	case *parse.FieldNode:
		r.path(n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) == 1 && n.Ident[0] == "$" {
			r.wholeOf = true
		}
		if len(n.Ident) > 1 {
			r.path(n.Ident[1:])
		}
	case *parse.DotNode:
		r.wholeOf = true
	case *parse.PipeNode:
		r.pipe(n)
	case *parse.ChainNode:
		r.arg(n.Node)
		// (index .Records 0).label: a field of whatever the pipe gives,
		// most likely a record.
		if len(n.Field) > 0 {
			r.record = append(r.record, n.Field)
		}
	}
}

func (r *tmplRefs) path(idents []string) {
	if len(idents) == 0 {
		return
	}
	r.fields[idents[0]] = true
	if idents[0] == "Record" && len(idents) > 1 {
		r.record = append(r.record, idents[1:])
	}
}

// records reports whether the template may look at .Record or .Records.
func (r tmplRefs) records() bool { return r.wholeOf || r.fields["Record"] || r.fields["Records"] }

// batch reports whether the template may look at every text of a batch.
func (r tmplRefs) batch() bool { return r.wholeOf || r.fields["Texts"] || r.fields["Records"] }

// usesRecords reports whether rendering t needs the records, which a
// plain text corpus then builds for it.
func usesRecords(t *template.Template) bool { return refsOf(t).records() }

// sampleRecord is a record holding SampleText at every field path the
// template names under .Record, so that validation can execute it.
func (r tmplRefs) sampleRecord() map[string]any {
	root := map[string]any{"text": SampleText}
	for _, path := range r.record {
		m := root
		for i, name := range path {
			if i == len(path)-1 {
				if _, ok := m[name]; !ok {
					m[name] = SampleText
				}
				break
			}
			sub, ok := m[name].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[name] = sub
			}
			m = sub
		}
	}
	return root
}
