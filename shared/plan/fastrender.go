package plan

import (
	"encoding/base64"
	"strconv"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// fastTemplate is a body template made only of literal text and the
// actions {{.Text}}, {{.Index}}, {{json .Text}}, {{json .Texts}},
// {{len .Texts}} and {{json (base64 .Text)}} or {{json (base64 .Texts)}},
// the shape of nearly every plain body and of every preset's: it renders the same bytes as
// text/template with templateFuncs, without reflection, several times
// faster. A nightly corpus of millions of texts is rendered within the
// worker's preparation deadline (half the lease's life) thanks to it.
type fastTemplate []fastPart

type fastPart struct {
	kind fastKind
	lit  string // fastLiteral's text
}

type fastKind uint8

const (
	fastLiteral fastKind = iota
	fastText
	fastIndex
	fastJSONText
	fastJSONTexts
	fastLenTexts
	fastJSONBase64Text
	fastJSONBase64Texts
)

// compileFast returns t as a fastTemplate, or false when t uses anything
// else (records, if, base64, pipelines, variables...), which text/template
// then renders.
func compileFast(t *template.Template) (fastTemplate, bool) {
	if t == nil || t.Tree == nil || t.Tree.Root == nil {
		return nil, false
	}
	var out fastTemplate
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			out = append(out, fastPart{kind: fastLiteral, lit: string(n.Text)})
		case *parse.ActionNode:
			k, ok := fastAction(n.Pipe)
			if !ok {
				return nil, false
			}
			out = append(out, fastPart{kind: k})
		default:
			return nil, false
		}
	}
	return out, true
}

// fastAction recognises the actions of a fastTemplate.
func fastAction(p *parse.PipeNode) (fastKind, bool) {
	args, ok := command(p)
	if !ok {
		return 0, false
	}
	switch len(args) {
	case 1:
		switch field(args[0]) {
		case "Text":
			return fastText, true
		case "Index":
			return fastIndex, true
		}
	case 2:
		id, ok := args[0].(*parse.IdentifierNode)
		if !ok {
			return 0, false
		}
		switch {
		case id.Ident == "len" && field(args[1]) == "Texts":
			return fastLenTexts, true
		case id.Ident != "json":
			return 0, false
		}
		switch field(args[1]) {
		case "Text":
			return fastJSONText, true
		case "Texts":
			return fastJSONTexts, true
		}
		// json (base64 .Text) and json (base64 .Texts)
		inner, ok := args[1].(*parse.PipeNode)
		if !ok {
			return 0, false
		}
		in, ok := command(inner)
		if !ok || len(in) != 2 {
			return 0, false
		}
		if id, ok := in[0].(*parse.IdentifierNode); !ok || id.Ident != "base64" {
			return 0, false
		}
		switch field(in[1]) {
		case "Text":
			return fastJSONBase64Text, true
		case "Texts":
			return fastJSONBase64Texts, true
		}
	}
	return 0, false
}

// command returns the arguments of a pipeline of one command without
// variables.
func command(p *parse.PipeNode) ([]parse.Node, bool) {
	if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) != 1 {
		return nil, false
	}
	return p.Cmds[0].Args, true
}

// field is the name of a one-level field node (.Text), "" for any other.
func field(n parse.Node) string {
	if f, ok := n.(*parse.FieldNode); ok && len(f.Ident) == 1 {
		return f.Ident[0]
	}
	return ""
}

// render appends the template executed for d to dst.
func (f fastTemplate) render(dst []byte, d *TemplateData) []byte {
	for _, p := range f {
		switch p.kind {
		case fastLiteral:
			dst = append(dst, p.lit...)
		case fastText:
			dst = append(dst, d.Text...)
		case fastIndex:
			dst = strconv.AppendInt(dst, int64(d.Index), 10)
		case fastJSONText:
			dst = appendJSONString(dst, d.Text)
		case fastJSONTexts, fastJSONBase64Texts:
			if d.Texts == nil {
				dst = append(dst, "null"...)
				break
			}
			dst = append(dst, '[')
			for i, s := range d.Texts {
				if i > 0 {
					dst = append(dst, ',')
				}
				if p.kind == fastJSONTexts {
					dst = appendJSONString(dst, s)
				} else {
					dst = appendBase64String(dst, s)
				}
			}
			dst = append(dst, ']')
		case fastLenTexts:
			dst = strconv.AppendInt(dst, int64(len(d.Texts)), 10)
		case fastJSONBase64Text:
			dst = appendBase64String(dst, d.Text)
		}
	}
	return dst
}

// appendBase64String appends the standard base64 of s as a JSON string:
// its alphabet needs no escape.
func appendBase64String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json's
// Encoder with SetEscapeHTML(false) writes it (the template function json):
// quote, backslash and control characters escaped, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 escaped for JavaScript's sake.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
