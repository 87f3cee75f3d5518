package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxPlanSize bounds a plan file read by LoadFile.
const MaxPlanSize = 4 << 20

// Parse decodes a plan from JSON or YAML (format "json", "yaml", "yml", or ""
// to sniff: a document starting with '{' is JSON), applies defaults and
// validates it. Any problem with the input, syntax included, is returned as a
// *ValidationError listing every problem found.
func Parse(data []byte, format string) (*Plan, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	format = strings.ToLower(format)
	if format == "" {
		format = "yaml"
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			format = "json"
		}
	}
	var (
		tree any
		err  error
	)
	switch format {
	case "json":
		tree, err = jsonTree(data)
	case "yaml", "yml":
		tree, err = yamlTree(data)
	default:
		return nil, fmt.Errorf("parse plan: unknown format %q (want json or yaml)", format)
	}
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{Reason: err.Error()}}}
	}
	var p Plan
	var d decoder
	d.decode("", tree, reflect.ValueOf(&p).Elem())
	p.ApplyDefaults()
	probs := d.problems
	for _, vp := range p.problems() {
		// A field that failed to decode was left at zero; judging that zero
		// again would only repeat the same complaint less clearly.
		if !slices.ContainsFunc(d.problems, func(dp Problem) bool { return under(vp.Path, dp.Path) }) {
			probs = append(probs, vp)
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return &p, nil
}

// under reports whether path is parent or lies below it.
func under(path, parent string) bool {
	if parent == "" || path == parent {
		return true
	}
	return strings.HasPrefix(path, parent) && (path[len(parent)] == '.' || path[len(parent)] == '[')
}

// LoadFile reads a plan file, choosing the format by extension (.json, .yaml,
// .yml; anything else is sniffed), and resolves data.file against the plan
// file's directory into Data.Path.
func LoadFile(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", path, err)
	}
	if len(data) > MaxPlanSize {
		return nil, fmt.Errorf("load plan %s: larger than %d bytes", path, MaxPlanSize)
	}
	format := ""
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		format = "json"
	case ".yaml", ".yml":
		format = "yaml"
	}
	p, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", path, err)
	}
	if p.Data.File != "" && !filepath.IsAbs(p.Data.File) {
		p.Data.Path = filepath.Join(filepath.Dir(path), p.Data.File)
	}
	return p, nil
}

// jsonTree parses one JSON value into maps, slices, strings, json.Number,
// bools and nils, rejecting duplicate keys and trailing data.
func jsonTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jsonValue(dec, 0)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("json: empty plan")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("json: unexpected data after the plan at offset %d", dec.InputOffset())
	}
	return v, nil
}

const maxDepth = 64

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("json: nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("json: %w", err)
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("json: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("json: object key %v is not a string", kt)
				}
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, unexpectedEOF(err)
				}
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("json: duplicate key %q at offset %d", k, dec.InputOffset())
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("json: %w", unexpectedEOF(err))
			}
			return m, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, unexpectedEOF(err)
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("json: %w", unexpectedEOF(err))
			}
			return a, nil
		}
		return nil, fmt.Errorf("json: unexpected %v", tok)
	default:
		return tok, nil
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("json: unexpected end of input")
	}
	return err
}

// yamlTree parses exactly one YAML document into the same shapes as jsonTree.
func yamlTree(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("yaml: empty plan")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("yaml: more than one document (one plan per file)")
	}
	return fromYAML(doc, 0)
}

func fromYAML(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("yaml: nested too deeply")
	}
	switch v := v.(type) {
	case nil, string, bool:
		return v, nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("yaml: %v is not a finite number", v)
		}
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = c
		}
		return m, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("yaml: mapping key %v is not a string", k)
			}
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	default:
		// Timestamps and other tagged scalars: the schema has no such field.
		return fmt.Sprint(v), nil
	}
}

// decoder fills a Go value from a parsed tree using json tags, collecting a
// Problem with the field path for every mismatch instead of stopping at the
// first, so JSON and YAML share one schema and one strictness.
type decoder struct {
	problems []Problem
}

var (
	durationType = reflect.TypeFor[Duration]()
	presetType   = reflect.TypeFor[Preset]()
	percentType  = reflect.TypeFor[Percent]()
)

func (d *decoder) add(path, reason string) {
	d.problems = append(d.problems, Problem{Path: path, Reason: reason})
}

func (d *decoder) decode(path string, v any, rv reflect.Value) {
	if v == nil {
		return // null is the same as absent: the zero value, then defaults
	}
	if rv.Type() == durationType {
		s, ok := v.(string)
		if !ok {
			d.add(path, errWantDuration)
			return
		}
		dur, err := parseDuration(s)
		if err != nil {
			d.add(path, err.Error())
			return
		}
		rv.SetInt(int64(dur))
		return
	}
	if rv.Type() == percentType {
		var pct Percent
		var err error
		switch v := v.(type) {
		case string:
			pct, err = parsePercent(v)
		case json.Number:
			pct, err = parsePercent(v.String())
		default:
			err = fmt.Errorf("want \"5%%\" or 0.05, got %s", kindOf(v))
		}
		if err != nil {
			d.add(path, err.Error())
			return
		}
		rv.SetFloat(float64(pct))
		return
	}
	if rv.Type() == presetType {
		// preset: oip_v2 is short for preset: {name: oip_v2}.
		if s, ok := v.(string); ok {
			rv.Set(reflect.ValueOf(Preset{Name: s}))
			return
		}
	}
	switch rv.Kind() {
	case reflect.Pointer:
		e := reflect.New(rv.Type().Elem())
		d.decode(path, v, e.Elem())
		rv.Set(e)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.add(path, "want an object, got "+kindOf(v))
			return
		}
		fields := jsonFields(rv.Type())
		for _, k := range sortedKeys(m) {
			i, ok := fields[k]
			if !ok {
				d.add(join(path, k), "unknown field")
				continue
			}
			d.decode(join(path, k), m[k], rv.Field(i))
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.add(path, "want a string, got "+kindOf(v))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.add(path, "want true or false, got "+kindOf(v))
			return
		}
		rv.SetBool(b)
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			d.add(path, "want an integer, got "+kindOf(v))
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(n), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				d.add(path, "want an integer, got "+string(n))
				return
			}
			i = int64(f)
		}
		if rv.OverflowInt(i) {
			d.add(path, "integer out of range: "+string(n))
			return
		}
		rv.SetInt(i)
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			d.add(path, "want a number, got "+kindOf(v))
			return
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			d.add(path, "number out of range: "+string(n))
			return
		}
		rv.SetFloat(f)
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			d.add(path, "want a list, got "+kindOf(v))
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(a), len(a))
		for i, e := range a {
			d.decode(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i))
		}
		rv.Set(s)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			d.add(path, "want an object, got "+kindOf(v))
			return
		}
		out := reflect.MakeMapWithSize(rv.Type(), len(m))
		for _, k := range sortedKeys(m) {
			e := reflect.New(rv.Type().Elem()).Elem()
			d.decode(mapPath(path, k), m[k], e)
			out.SetMapIndex(reflect.ValueOf(k), e)
		}
		rv.Set(out)
	default:
		d.add(path, "unsupported field type "+rv.Type().String())
	}
}

func kindOf(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprintf("%T", v)
}

func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func mapPath(path, key string) string { return path + "[" + strconv.Quote(key) + "]" }
