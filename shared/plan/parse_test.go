package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const httpYAML = `
name: predict-rest
target:
  protocol: http
  url: http://127.0.0.1:8501/v1/predict
  headers:
    Content-Type: application/json
  body: '{"text": {{json .Text}}}'
  expect_status: [200]
  timeout: 2s
  connections: 20
data:
  texts: ["stocks rally", "team wins final"]
  order: random
load:
  model: open
  start_rate: 0
  stages:
    - {duration: 30s, rate: 200}
    - {duration: 1m30s, rate: 200}
    - {duration: 500ms, rate: 0}
  max_in_flight: 300
slice: 5s
shards: 4
start_delay: 15s
thresholds: ["p99 < 250ms"]
`

const httpJSON = `{
  "name": "predict-rest",
  "target": {
    "protocol": "http",
    "url": "http://127.0.0.1:8501/v1/predict",
    "headers": {"Content-Type": "application/json"},
    "body": "{\"text\": {{json .Text}}}",
    "expect_status": [200],
    "timeout": "2s",
    "connections": 20
  },
  "data": {"texts": ["stocks rally", "team wins final"], "order": "random"},
  "load": {
    "model": "open",
    "start_rate": 0,
    "stages": [
      {"duration": "30s", "rate": 200},
      {"duration": "1m30s", "rate": 200},
      {"duration": "500ms", "rate": 0}
    ],
    "max_in_flight": 300
  },
  "slice": "5s",
  "shards": 4,
  "start_delay": "15s",
  "thresholds": ["p99 < 250ms"]
}`

func mustParse(t *testing.T, data, format string) *Plan {
	t.Helper()
	p, err := Parse([]byte(data), format)
	if err != nil {
		t.Fatalf("Parse(%s): %v", format, err)
	}
	return p
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	t.Parallel()
	zero := 0.0
	want := &Plan{
		Name: "predict-rest",
		Target: Target{
			Protocol: "http", URL: "http://127.0.0.1:8501/v1/predict", Method: "POST",
			Headers: map[string]string{"Content-Type": "application/json"},
			Body:    `{"text": {{json .Text}}}`, ExpectStatus: []int{200},
			Timeout: Duration(2 * time.Second), Connections: 20,
		},
		Data: Data{Texts: []string{"stocks rally", "team wins final"}, Order: "random"},
		Load: Load{
			Model: "open", StartRate: &zero, MaxInFlight: 300,
			Stages: []Stage{
				{Duration: Duration(30 * time.Second), Rate: 200},
				{Duration: Duration(90 * time.Second), Rate: 200},
				{Duration: Duration(500 * time.Millisecond)},
			},
		},
		Slice: Duration(5 * time.Second), Shards: 4, StartDelay: Duration(15 * time.Second),
		Thresholds: []string{"p99 < 250ms"},
	}
	for _, tt := range []struct{ name, data, format string }{
		{"yaml", httpYAML, "yaml"},
		{"yml", httpYAML, "yml"},
		{"json", httpJSON, "json"},
		{"sniffed yaml", httpYAML, ""},
		{"sniffed json", httpJSON, ""},
		{"json read as yaml", httpJSON, "yaml"}, // JSON is YAML: same schema either way
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mustParse(t, tt.data, tt.format)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// A parsed plan written with encoding/json or yaml.v3 (as the trigger stores
// plan.json) reads back to the same plan.
func TestParseRoundTrip(t *testing.T) {
	t.Parallel()
	p := mustParse(t, httpYAML, "yaml")
	for _, tt := range []struct {
		name    string
		marshal func(any) ([]byte, error)
		format  string
	}{
		{"json", json.Marshal, "json"},
		{"yaml", yaml.Marshal, "yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.marshal(p)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got := mustParse(t, string(b), tt.format)
			if !reflect.DeepEqual(got, p) {
				t.Errorf("round trip through\n%s\ngot  %+v\nwant %+v", b, got, p)
			}
			var direct Plan // encoding/json alone, through Duration.UnmarshalJSON/YAML
			if tt.format == "json" {
				err = json.Unmarshal(b, &direct)
			} else {
				err = yaml.Unmarshal(b, &direct)
			}
			if err != nil || !reflect.DeepEqual(&direct, p) {
				t.Errorf("direct unmarshal: err %v\ngot  %+v\nwant %+v", err, &direct, p)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		data  string
		check func(p *Plan) (got, want any)
	}{
		{"slice", minimalHTTP, func(p *Plan) (any, any) { return p.Slice.D(), 10 * time.Second }},
		{"shards", minimalHTTP, func(p *Plan) (any, any) { return p.Shards, 1 }},
		{"timeout", minimalHTTP, func(p *Plan) (any, any) { return p.Target.Timeout.D(), 5 * time.Second }},
		{"connections", minimalHTTP, func(p *Plan) (any, any) { return p.Target.Connections, 10 }},
		{"method GET without body", minimalHTTP, func(p *Plan) (any, any) { return p.Target.Method, "GET" }},
		{"method POST with body", minimalHTTP + "\n  body: x", func(p *Plan) (any, any) { return p.Target.Method, "POST" }},
		{"order", minimalHTTP, func(p *Plan) (any, any) { return p.Data.Order, "sequential" }},
		{"max_in_flight 10 x connections", minimalHTTP + "\n  connections: 7", func(p *Plan) (any, any) { return p.Load.MaxInFlight, 70 }},
		{"think_time", minimalClosed, func(p *Plan) (any, any) { return p.Load.ThinkTime.D(), time.Duration(0) }},
		{"closed has no max_in_flight", minimalClosed, func(p *Plan) (any, any) { return p.Load.MaxInFlight, 0 }},
		{"grpc method gets a leading slash", minimalGRPC, func(p *Plan) (any, any) { return p.Target.Method, "/cicada.v1.Predictor/Predict" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, want := tt.check(mustParse(t, tt.data, "yaml"))
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// target is last so that rows can append fields to it.
const minimalHTTP = `name: m
data: {texts: [hello]}
load: {model: open, stages: [{duration: 10s, rate: 5}]}
target:
  protocol: http
  url: http://127.0.0.1:8501/v1/predict`

const minimalClosed = `name: m
data: {texts: [hello]}
load: {model: closed, stages: [{duration: 10s, users: 5}]}
target:
  protocol: http
  url: http://127.0.0.1:8501/v1/predict`

const minimalGRPC = `name: m
data: {texts: [hello]}
load: {model: open, stages: [{duration: 10s, rate: 5}]}
target:
  protocol: grpc
  address: 127.0.0.1:8500
  method: cicada.v1.Predictor/Predict
  request: '{"text": {{json .Text}}}'`

// problemsOf returns the problems of a failed Parse, failing the test if the
// error is not a *ValidationError.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v (%T), want *ValidationError", err, err)
	}
	return ve.Problems
}

func hasProblem(probs []Problem, path, reason string) bool {
	for _, p := range probs {
		if p.Path == path && strings.Contains(p.Reason, reason) {
			return true
		}
	}
	return false
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, format, data string
		path, reason       string
	}{
		{"yaml unknown top field", "yaml", minimalHTTP + "\nslices: 5s", "slices", "unknown field"},
		{"yaml unknown nested field", "yaml", strings.Replace(minimalHTTP, "  url:", "  urll:", 1), "target.urll", "unknown field"},
		{"yaml unknown stage field", "yaml", strings.Replace(minimalHTTP, "rate: 5}", "rate: 5, rampup: 1s}", 1), "load.stages[0].rampup", "unknown field"},
		{"json unknown nested field", "json", `{"name":"m","target":{"protocol":"http","urll":"x"}}`, "target.urll", "unknown field"},
		{"json unknown stage field", "json", `{"load":{"model":"open","stages":[{"duration":"1s","rate":1},{"duration":"1s","rte":1}]}}`, "load.stages[1].rte", "unknown field"},
		{"json unknown data field", "json", `{"data":{"text":["a"]}}`, "data.text", "unknown field"},
		{"yaml duration as number", "yaml", strings.Replace(minimalHTTP, "duration: 10s", "duration: 30", 1), "load.stages[0].duration", `want a duration string like "30s"`},
		{"json duration as number", "json", `{"load":{"stages":[{"duration":30}]}}`, "load.stages[0].duration", `want a duration string like "30s"`},
		{"bad duration string", "yaml", minimalHTTP + "\n  timeout: 5 seconds", "target.timeout", `invalid duration "5 seconds"`},
		{"duration without unit", "json", `{"slice":"10"}`, "slice", `invalid duration "10"`},
		{"string for int", "yaml", minimalHTTP + "\n  connections: many", "target.connections", "want an integer"},
		{"fraction for int", "json", `{"shards": 1.5}`, "shards", "want an integer"},
		{"huge int", "json", `{"shards": 1e300}`, "shards", "want an integer"},
		{"number for string", "json", `{"name": 5}`, "name", "want a string"},
		{"list for object", "yaml", minimalHTTP + "\n  headers: [a]", "target.headers", "want an object"},
		{"object for list", "json", `{"thresholds": {"a": 1}}`, "thresholds", "want a list"},
		{"string for float", "json", `{"load":{"stages":[{"duration":"1s","rate":"fast"}]}}`, "load.stages[0].rate", "want a number"},
		{"number header value", "json", `{"target":{"headers":{"X-N": 1}}}`, `target.headers["X-N"]`, "want a string"},
		{"yaml two documents", "yaml", minimalHTTP + "\n---\nname: other", "", "more than one document"},
		{"yaml syntax", "yaml", "name: [", "", "yaml"},
		{"yaml empty", "yaml", "   \n", "", "empty plan"},
		{"yaml duplicate key", "yaml", minimalHTTP + "\nname: again", "", "already defined"},
		{"yaml infinite rate", "yaml", strings.Replace(minimalHTTP, "rate: 5", "rate: .inf", 1), "", "not a finite number"},
		{"json trailing garbage", "json", `{"name":"m"} xyz`, "", "after the plan"},
		{"json two objects", "json", `{"name":"m"}{"name":"n"}`, "", "after the plan"},
		{"json duplicate key", "json", `{"name":"m","name":"n"}`, "", `duplicate key "name"`},
		{"json truncated", "json", `{"name":"m"`, "", "unexpected end"},
		{"json empty", "json", ``, "", "empty plan"},
		{"json syntax", "json", `{"name" "m"}`, "", "json"},
		{"not an object", "json", `[1]`, "", "want an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data), tt.format)
			probs := problemsOf(t, err)
			if !hasProblem(probs, tt.path, tt.reason) {
				t.Errorf("got problems %v, want %q containing %q", probs, tt.path, tt.reason)
			}
		})
	}
}

func TestParseUnknownFormat(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(minimalHTTP), "toml")
	if err == nil || !strings.Contains(err.Error(), `unknown format "toml"`) {
		t.Errorf("got %v, want unknown format error", err)
	}
}

func TestParseDurations(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"500ms", 500 * time.Millisecond},
		{"10s", 10 * time.Second},
		{"2m", 2 * time.Minute},
		{"1m30s", 90 * time.Second},
		{"1.5s", 1500 * time.Millisecond},
		{"1h", time.Hour},
	} {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			for _, format := range []string{"json", "yaml"} {
				data := `{"name":"m","target":{"protocol":"http","url":"http://127.0.0.1/"},"data":{"texts":["a"]},` +
					`"load":{"model":"open","stages":[{"duration":"` + tt.in + `","rate":5}]}}`
				p := mustParse(t, data, format)
				if got := p.Load.Stages[0].Duration.D(); got != tt.want {
					t.Errorf("%s: got %v, want %v", format, got, tt.want)
				}
			}
		})
	}
}

// Every problem comes back at once, decoding and validation alike, and a field
// that failed to decode is not judged again as a zero value.
func TestParseEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	data := `
name: ""
target:
  protocol: http
  url: ftp://example.com/
  urll: x
  timeout: 30
data:
  texts: [a, ""]
  order: shuffled
load:
  model: open
  stages:
    - {duration: 10s, rate: 5}
    - {duration: 10s, rate: -5}
shards: 0
slice: 1ms
`
	_, err := Parse([]byte(data), "yaml")
	probs := problemsOf(t, err)
	want := []Problem{
		{"target.timeout", `want a duration string like "30s"`},
		{"target.urll", "unknown field"},
		{"name", "required"},
		{"target.url", "must be an absolute http:// or https:// URL"},
		{"data.texts[1]", "must not be empty"},
		{"data.order", "must be sequential or random"},
		{"load.stages[1].rate", "must be >= 0"},
		{"slice", "must be 100ms..1h0m0s"},
	}
	if len(probs) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if i >= len(probs) || probs[i].Path != w.Path || !strings.Contains(probs[i].Reason, w.Reason) {
			t.Errorf("problem %d: got %v, want %q containing %q", i, probs[min(i, len(probs)-1)], w.Path, w.Reason)
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "invalid plan: 8 problems:\n  target.timeout: ") ||
		!strings.Contains(msg, "\n  load.stages[1].rate: must be >= 0") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "plans")
	if err := os.MkdirAll(filepath.Join(sub, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(sub, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("data/texts.txt", "one\n\ntwo\r\n")
	withFile := strings.Replace(minimalHTTP, "data: {texts: [hello]}", "data: {file: data/texts.txt}", 1)

	for _, tt := range []struct {
		name, file, content string
	}{
		{"yaml", "p.yaml", withFile},
		{"yml", "p.yml", withFile},
		{"json", "p.json", `{"name":"m","target":{"protocol":"http","url":"http://127.0.0.1/"},"data":{"file":"data/texts.txt"},"load":{"model":"open","stages":[{"duration":"1s","rate":1}]}}`},
		{"sniffed", "p.plan", withFile},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadFile(write(tt.file, tt.content))
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if got, want := p.Data.File, "data/texts.txt"; got != want {
				t.Errorf("Data.File = %q, want %q as written", got, want)
			}
			if got, want := p.Data.Path, filepath.Join(sub, "data", "texts.txt"); got != want {
				t.Errorf("Data.Path = %q, want %q", got, want)
			}
			texts, err := p.Texts()
			if err != nil || !reflect.DeepEqual(texts, []string{"one", "two"}) {
				t.Errorf("Texts() = %q, %v; want [one two]", texts, err)
			}
		})
	}

	t.Run("invalid plan wraps ValidationError", func(t *testing.T) {
		_, err := LoadFile(write("bad.yaml", minimalHTTP+"\nbogus: 1"))
		if probs := problemsOf(t, err); !hasProblem(probs, "bogus", "unknown field") {
			t.Errorf("got %v", probs)
		}
		if !strings.Contains(err.Error(), "bad.yaml") {
			t.Errorf("error %q does not name the file", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadFile(filepath.Join(dir, "nope.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want ErrNotExist", err)
		}
	})
}
