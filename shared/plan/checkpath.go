package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Check compares each instance's prediction in the response with the
// value expected from its text's record, turning a wrong answer into the
// outcome check:mismatch (or check:missing when the path leads nowhere).
type Check struct {
	// Path is where the prediction is in the response (for gRPC in its
	// JSON rendering); see [CompileCheckPath].
	Path string `json:"path" yaml:"path"`
	// Equals is a template over the instance's text and record, e.g.
	// "{{.Record.label}}", rendered once per text before the run.
	Equals string `json:"equals" yaml:"equals"`
	// CountAs says whether a wrong answer is an error (CountAsError, the
	// default) or only lowers the accuracy (CountAsMetric).
	CountAs string `json:"count_as,omitempty" yaml:"count_as,omitempty"`
}

// Values of check.count_as.
const (
	CountAsError  = "error"
	CountAsMetric = "metric"
)

// CountsAsError reports whether a failed check makes the request an error.
func (c *Check) CountsAsError() bool { return c.CountAs != CountAsMetric }

// MaxCheckPath bounds the length of a check path.
const MaxCheckPath = 1024

// CheckPath is a compiled check path: the steps from the response's root to
// one instance's prediction.
type CheckPath struct {
	src   string
	steps []pathStep
	stars int
}

type stepKind uint8

const (
	stepField stepKind = iota
	stepIndex
	stepInstance
)

type pathStep struct {
	kind  stepKind
	name  string // stepField
	index int    // stepIndex
}

// CompileCheckPath compiles a check path. Its syntax: an optional leading
// "$" or "$."; field names separated by dots; [n] an index into a list;
// [*] the instance (instance j of the request's batch); ["a.b"] (or
// ['a.b']) a field whose name holds dots or brackets. Examples:
// predictions[*].label, $.outputs[0].data[*], outputs.label.string_val[*].
func CompileCheckPath(s string) (*CheckPath, error) {
	if s == "" {
		return nil, errors.New("empty check path")
	}
	if len(s) > MaxCheckPath {
		return nil, fmt.Errorf("check path longer than %d bytes", MaxCheckPath)
	}
	p := &CheckPath{src: s}
	rest := s
	if r, ok := strings.CutPrefix(rest, "$"); ok {
		if r != "" && r[0] != '.' && r[0] != '[' {
			return nil, fmt.Errorf("check path %q: want '.' or '[' after '$'", s)
		}
		rest = r
	}
	for rest != "" {
		at := len(s) - len(rest)
		switch rest[0] {
		case '[':
			step, n, err := bracket(rest)
			if err != nil {
				return nil, fmt.Errorf("check path %q at offset %d: %w", s, at, err)
			}
			if step.kind == stepInstance {
				p.stars++
			}
			p.steps = append(p.steps, step)
			rest = rest[n:]
			continue
		case '.':
			rest = rest[1:]
			at++
		default:
			if at > 0 {
				return nil, fmt.Errorf("check path %q at offset %d: want '.' or '[' before a field name", s, at)
			}
		}
		n := strings.IndexAny(rest, ".[]")
		if n < 0 {
			n = len(rest)
		}
		if n == 0 {
			return nil, fmt.Errorf("check path %q at offset %d: want a field name", s, at)
		}
		name := rest[:n]
		if strings.ContainsAny(name, " \t\r\n\"'$*") {
			return nil, fmt.Errorf("check path %q at offset %d: field name %q holds a space, a quote, '$' or '*' (write [\"...\"])", s, at, name)
		}
		p.steps = append(p.steps, pathStep{kind: stepField, name: name})
		rest = rest[n:]
	}
	if len(p.steps) == 0 {
		return nil, fmt.Errorf("check path %q leads to the whole response: name a field", s)
	}
	return p, nil
}

// bracket parses one [..] step at the start of s and returns it with the
// bytes it took.
func bracket(s string) (pathStep, int, error) {
	if len(s) >= 3 && s[1] == '*' && s[2] == ']' {
		return pathStep{kind: stepInstance}, 3, nil
	}
	if len(s) >= 2 && (s[1] == '"' || s[1] == '\'') {
		q := s[1]
		var b strings.Builder
		for i := 2; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case c == q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return pathStep{}, 0, errors.New("want ']' after a quoted field name")
				}
				return pathStep{kind: stepField, name: b.String()}, i + 2, nil
			default:
				b.WriteByte(c)
			}
		}
		return pathStep{}, 0, errors.New("unterminated quoted field name")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return pathStep{}, 0, errors.New("unterminated '['")
	}
	inner := s[1:end]
	n, err := strconv.Atoi(inner)
	if err != nil || n < 0 || inner[0] == '+' || inner[0] == '-' {
		return pathStep{}, 0, fmt.Errorf("want [n] (an index >= 0), [*] or [\"name\"], got [%s]", inner)
	}
	return pathStep{kind: stepIndex, index: n}, end + 1, nil
}

// String returns the path as written.
func (p *CheckPath) String() string { return p.src }

// Instances is how many [*] the path holds.
func (p *CheckPath) Instances() int { return p.stars }

// Eval follows the path in root, a tree as encoding/json decodes into any
// (map[string]any, []any, string, float64 or json.Number, bool, nil; the
// engine's gRPC trees may also hold other Go numbers), with [*] standing
// for index instance. ok is false when the path leads nowhere: a missing
// field, an index out of range, or a step into a scalar.
func (p *CheckPath) Eval(root any, instance int) (any, bool) {
	v := root
	for _, s := range p.steps {
		switch s.kind {
		case stepField:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s.name]; !ok {
				return nil, false
			}
		case stepIndex, stepInstance:
			a, ok := v.([]any)
			if !ok {
				return nil, false
			}
			i := s.index
			if s.kind == stepInstance {
				i = instance
			}
			if i < 0 || i >= len(a) {
				return nil, false
			}
			v = a[i]
		}
	}
	return v, true
}

// CheckString is the canonical text of a scalar, compared with the
// expected value rendered from check.equals: strings as they are, numbers
// in their shortest form (2, not 2.0; 0.5; integers written out in full),
// bools true or false. ok is false for objects, lists and null.
func CheckString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return strconv.FormatUint(u, 10), true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return string(v), true
		}
		return formatFloat(f), true
	case float64:
		return formatFloat(v), true
	case float32:
		return formatFloat32(v), true
	case int:
		return strconv.Itoa(v), true
	case int8:
		return strconv.FormatInt(int64(v), 10), true
	case int16:
		return strconv.FormatInt(int64(v), 10), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint:
		return strconv.FormatUint(uint64(v), 10), true
	case uint8:
		return strconv.FormatUint(uint64(v), 10), true
	case uint16:
		return strconv.FormatUint(uint64(v), 10), true
	case uint32:
		return strconv.FormatUint(uint64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	}
	return "", false
}

// formatFloat writes an integral value in full (1000000, not 1e+06) and
// any other in the shortest form that reads back the same.
func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func formatFloat32(f float32) string {
	if float64(f) == math.Trunc(float64(f)) && math.Abs(float64(f)) < 1e21 {
		return strconv.FormatFloat(float64(f), 'f', -1, 32)
	}
	return strconv.FormatFloat(float64(f), 'g', -1, 32)
}
