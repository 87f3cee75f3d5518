package plan

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestTemplateBombs: a template is data, not a program. Every construct
// that lets a small plan render without bound is refused at parse time,
// with its position, fast and with little memory.
func TestTemplateBombs(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		want string
	}{
		{"range over a number", `{{range 30000000}}x{{end}}`, "{{range}} on line 1 is not allowed"},
		{"range over the text", `{{range $i, $c := .Text}}{{$c}}{{end}}`, "{{range}} on line 1"},
		{"nested range", `{"a": {{if .Text}}{{range 1000}}{{range 1000}}x{{end}}{{end}}{{end}}}`, "{{range}}"},
		{"define and template", `{{define "x"}}{{.Text}}{{.Text}}{{end}}{{template "x" .}}`, `{{define "x"}}`},
		{"template alone", `{{template "body" .}}`, "{{template}} on line 1"},
		{"block", `{{block "b" .}}{{.Text}}{{end}}`, `{{define "b"}}`},
		{"with", `{{with .Text}}{{.}}{{end}}`, "{{with}} on line 1"},
		{"printf width", `{{printf "%0999999999d" 1}}`, `function "printf" on line 1`},
		{"printf in a pipeline", `{{.Text | printf "%0999999999s"}}`, `function "printf"`},
		{"printf in parentheses", `{{json (printf "%0999999999d" 1)}}`, `function "printf"`},
		{"call", `{{call .Text}}`, `function "call"`},
		{"on the second line", "{\"text\": {{json .Text}},\n \"n\": {{range 9}}{{end}}}", "{{range}} on line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := (&Target{Protocol: ProtocolHTTP, Body: tt.tmpl}).RenderBodies([]string{"a text", "another"})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "a template is data, not a program") {
				t.Fatalf("RenderBodies(%s) = %v, want a refusal saying %q", tt.tmpl, err, tt.want)
			}
			var re *RenderError
			if !errors.As(err, &re) || re.Field != "target.body" || re.Index != -1 {
				t.Errorf("error %#v, want a *RenderError of target.body for every text", err)
			}
			if took > 100*time.Millisecond {
				t.Errorf("refusing took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("refusing allocated %d bytes", alloc)
			}
		})
	}

	t.Run("validation names the field", func(t *testing.T) {
		for _, field := range []string{"body", "request"} {
			doc := `{"name": "bomb", "target": {"protocol": "http", "url": "http://127.0.0.1/", "body": "{{range 30000000}}x{{end}}"},
				"data": {"texts": ["a"]}, "load": {"model": "open", "stages": [{"duration": "1s", "rate": 1}]}}`
			if field == "request" {
				doc = `{"name": "bomb", "target": {"protocol": "grpc", "address": "127.0.0.1:8500", "method": "/a.B/C", "request": "{{range 30000000}}x{{end}}"},
				"data": {"texts": ["a"]}, "load": {"model": "open", "stages": [{"duration": "1s", "rate": 1}]}}`
			}
			_, err := Parse([]byte(doc), "json")
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "target."+field || !strings.Contains(ve.Problems[0].Reason, "{{range}} on line 1 is not allowed") {
				t.Errorf("Parse: %v, want one problem at target.%s refusing {{range}}", err, field)
			}
		}
	})
}

// TestTemplatesAllowed: what bodies need still renders.
func TestTemplatesAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tmpl string
		want string
	}{
		{`{"text": {{json .Text}}, "i": {{.Index}}}`, `{"text": "ab\"c", "i": 1}`},
		{`{{if .Index}}odd{{else if eq .Text "x"}}x{{else}}zero{{end}}`, `odd`},
		{`{{$t := .Text}}{{len $t}} {{index .Text 0}} {{slice .Text 1}}`, `4 97 b"c`},
		{`{{.Text | urlquery}}&{{html .Text}}&{{js .Text}}`, `ab%22c&ab&#34;c&ab\"c`},
		{`{{print .Index "-" .Text}}{{/* a comment */}}`, `1-ab"c`},
		{`{{and .Text (not .Index) | json}} {{or (gt .Index 0) (ne .Text "")}}`, `false true`},
		{`{{(json .Text)}}`, `"ab\"c"`},
	}
	for _, tt := range tests {
		got, err := (&Target{Protocol: ProtocolHTTP, Body: tt.tmpl}).RenderBodies([]string{"zz", `ab"c`})
		if err != nil {
			t.Errorf("RenderBodies(%s): %v", tt.tmpl, err)
			continue
		}
		if string(got[1]) != tt.want {
			t.Errorf("RenderBodies(%s) = %s, want %s", tt.tmpl, got[1], tt.want)
		}
	}
}

// TestRenderLimits: a rendering over its limits stops as soon as it
// crosses them, at the text that crossed them.
func TestRenderLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("y", 1000)
	tests := []struct {
		name    string
		lim     RenderLimits
		tmpl    string
		texts   []string
		wantErr error
		index   int
	}{
		{"body", RenderLimits{MaxBody: 2500}, `{{.Text}}{{.Text}}{{.Text}}`, []string{"a", long}, ErrBodyTooLarge, 1},
		{"bodies", RenderLimits{MaxBody: 1500, MaxTotal: 2500}, `{{.Text}}`, []string{long, long, long}, ErrBodiesTooLarge, 2},
		{"deadline", RenderLimits{Deadline: time.Now().Add(-time.Millisecond)}, `{{.Text}}`, []string{"a"}, ErrRenderDeadline, 0},
		{"the package's bound", RenderLimits{MaxBody: MaxRenderedBody * 4}, strings.Repeat(`{{.Text}}`, 20000), []string{long}, ErrBodyTooLarge, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := &Target{Protocol: ProtocolHTTP, Body: tt.tmpl}
			_, err := tg.Render(tt.texts, tt.lim)
			var re *RenderError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &re) || re.Index != tt.index {
				t.Errorf("Render = %v, want %v at text %d", err, tt.wantErr, tt.index)
			}
			if cerr := tg.CheckRender(tt.texts, tt.lim); fmt.Sprint(cerr) != fmt.Sprint(err) {
				t.Errorf("CheckRender = %v, Render = %v", cerr, err)
			}
		})
	}
}
