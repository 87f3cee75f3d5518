package plan

import (
	"encoding/json"
	"strings"
	"testing"
)

// Sample responses of each preset, as the sample predict service answers
// them (gRPC ones in the engine's generic rendering of the message).
const (
	respPredictions = `{"predictions": [{"label": "sports", "score": 0.9}, {"label": "tech", "score": 0.5}, {"label": "world", "score": 0.7}]}`
	respOIPREST     = `{"model_name": "news", "outputs": [{"name": "label", "datatype": "BYTES", "shape": [3], "data": ["sports", "tech", "world"]}, {"name": "score", "datatype": "FP32", "shape": [3], "data": [0.9, 0.5, 0.7]}]}`
	respOIPGRPC     = `{"model_name": "news", "outputs": [{"name": "label", "datatype": "BYTES", "shape": [3], "contents": {"bytes_contents": ["sports", "tech", "world"], "bytesContents": ["sports", "tech", "world"]}}]}`
	respTFGRPC      = `{"outputs": {"label": {"dtype": "DT_STRING", "string_val": ["sports", "tech", "world"], "stringVal": ["sports", "tech", "world"]}}}`
	respOdd         = `{"a.b": {"c]": [[1, 2.5], [true, null]]}, "n": 1e6, "big": 12345678901234567890}`
)

func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, resp, path string
		instance         int
		want             string // "" with ok false
		instances        int
	}{
		{"predictions 0", respPredictions, "predictions[*].label", 0, "sports", 1},
		{"predictions 2", respPredictions, "predictions[*].label", 2, "world", 1},
		{"predictions out of range", respPredictions, "predictions[*].label", 3, "", 1},
		{"predictions $.", respPredictions, "$.predictions[*].label", 1, "tech", 1},
		{"predictions $[", respPredictions, `$["predictions"][1]["label"]`, 0, "tech", 0},
		{"predictions number", respPredictions, "predictions[*].score", 1, "0.5", 1},
		{"oip rest", respOIPREST, "outputs[0].data[*]", 1, "tech", 1},
		{"oip rest shape", respOIPREST, "$.outputs[0].shape[0]", 0, "3", 0},
		{"oip grpc", respOIPGRPC, "outputs[0].contents.bytes_contents[*]", 2, "world", 1},
		{"oip grpc json name", respOIPGRPC, "outputs[0].contents.bytesContents[*]", 0, "sports", 1},
		{"tfserving grpc", respTFGRPC, "outputs.label.string_val[*]", 1, "tech", 1},
		{"missing field", respTFGRPC, "outputs.score.string_val[*]", 0, "", 1},
		{"field of a list", respPredictions, "predictions.label", 0, "", 0},
		{"index of an object", respPredictions, "predictions[0][0]", 0, "", 0},
		{"field of a scalar", respPredictions, "predictions[0].label.x", 0, "", 0},
		{"object is no scalar", respPredictions, "predictions[0]", 0, "", 0},
		{"quoted names", respOdd, `["a.b"]['c]'][0][1]`, 0, "2.5", 0},
		{"bool", respOdd, `["a.b"]["c]"][1][0]`, 0, "true", 0},
		{"null is no scalar", respOdd, `["a.b"]["c]"][1][1]`, 0, "", 0},
		{"integral float in full", respOdd, "n", 0, "1000000", 0},
		{"big integer", respOdd, "big", 0, "12345678901234567890", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := CompileCheckPath(tt.path)
			if err != nil {
				t.Fatalf("CompileCheckPath(%q): %v", tt.path, err)
			}
			if p.Instances() != tt.instances || p.String() != tt.path {
				t.Errorf("Instances() = %d, String() = %q; want %d, %q", p.Instances(), p.String(), tt.instances, tt.path)
			}
			dec := json.NewDecoder(strings.NewReader(tt.resp))
			dec.UseNumber()
			var root any
			if err := dec.Decode(&root); err != nil {
				t.Fatal(err)
			}
			v, ok := p.Eval(root, tt.instance)
			got, sok := CheckString(v)
			if !ok || !sok {
				got = ""
			}
			if got != tt.want {
				t.Errorf("Eval(%s, %d) = %v (%v), string %q; want %q", tt.path, tt.instance, v, ok, got, tt.want)
			}
		})
	}
}

func TestCompileCheckPathErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, want string }{
		{"", "empty check path"},
		{"$", "leads to the whole response"},
		{"$.", "want a field name"},
		{"$x", "want '.' or '[' after '$'"},
		{"a..b", "at offset 2: want a field name"},
		{"a.", "want a field name"},
		{"a[", "unterminated '['"},
		{"a[-1]", "want [n] (an index >= 0)"},
		{"a[x]", "want [n] (an index >= 0), [*] or [\"name\"], got [x]"},
		{"a[1]b", "want '.' or '[' before a field name"},
		{"a]", "want '.' or '[' before a field name"},
		{`a["b`, "unterminated quoted field name"},
		{`a["b"x]`, "want ']' after a quoted field name"},
		{"a b", "holds a space"},
		{"a.*", "holds a space, a quote, '$' or '*'"},
		{strings.Repeat("a", MaxCheckPath+1), "longer than 1024 bytes"},
	} {
		if _, err := CompileCheckPath(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompileCheckPath(%q) = %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
}

func TestCheckString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    any
		want string
		ok   bool
	}{
		{"a", "a", true}, {[]byte("b"), "b", true}, {true, "true", true},
		{2.0, "2", true}, {0.5, "0.5", true}, {1e21, "1e+21", true}, {float32(0.1), "0.1", true},
		{json.Number("2.0"), "2", true}, {json.Number("7"), "7", true}, {json.Number("-3"), "-3", true},
		{int64(-9), "-9", true}, {uint64(18446744073709551615), "18446744073709551615", true}, {int32(4), "4", true},
		{nil, "", false}, {map[string]any{}, "", false}, {[]any{"a"}, "", false},
	} {
		got, ok := CheckString(tt.v)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CheckString(%#v) = %q, %v; want %q, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzCheckPath: compiling any string and evaluating what compiles never
// panics.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"predictions[*].label", `$["a.b"][0]`, "$.outputs[0].data[*]", "a[", `['\'']`, "$", "[*][*]"} {
		f.Add(s, 1)
	}
	var roots []any
	for _, r := range []string{respPredictions, respOIPREST, respOdd, `[[["x"]]]`, `"s"`, `null`} {
		var v any
		if err := json.Unmarshal([]byte(r), &v); err != nil {
			f.Fatal(err)
		}
		roots = append(roots, v)
	}
	f.Fuzz(func(t *testing.T, s string, instance int) {
		p, err := CompileCheckPath(s)
		if err != nil {
			if p != nil {
				t.Errorf("CompileCheckPath(%q) returned a path and an error", s)
			}
			return
		}
		if p.Instances() < 0 || len(p.steps) == 0 {
			t.Errorf("CompileCheckPath(%q) compiled to nothing", s)
		}
		for _, r := range roots {
			if v, ok := p.Eval(r, instance); ok {
				CheckString(v)
			}
		}
	})
}
