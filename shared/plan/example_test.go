package plan_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
)

func Example() {
	p, err := plan.Parse([]byte(`
name: predict ramp
target:
  protocol: http
  url: http://127.0.0.1:8501/v1/predict
  body: '{"text": {{json .Text}}}'
data:
  texts: ["stocks rally", "team wins the final"]
load:
  model: open
  start_rate: 0
  stages:
    - {duration: 10s, rate: 100}   # ramp 0 -> 100 req/s
    - {duration: 20s, rate: 100}   # hold
slice: 5s
shards: 2
`), "yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := p.Schedule()
	fmt.Println(p.Target.Method, p.Duration(), p.NumSlices(), "slices")
	fmt.Println("rate at 5s:", s.RateAt(5*time.Second), "total:", s.Total())
	for k := range 3 {
		fmt.Printf("slice %d: %d intended (shard 0: %d, shard 1: %d)\n", k, s.SliceIntended(k, p.Slice.D()),
			s.Shard(0, 2).SliceIntended(k, p.Slice.D()), s.Shard(1, 2).SliceIntended(k, p.Slice.D()))
	}
	bodies, _ := p.Target.RenderBodies([]string{`say "hi"`})
	fmt.Println(string(bodies[0]))
	// Output:
	// POST 30s 6 slices
	// rate at 5s: 50 total: 2500
	// slice 0: 125 intended (shard 0: 63, shard 1: 62)
	// slice 1: 375 intended (shard 0: 187, shard 1: 188)
	// slice 2: 500 intended (shard 0: 250, shard 1: 250)
	// {"text": "say \"hi\""}
}

func ExampleParse_invalid() {
	_, err := plan.Parse([]byte(`{
  "name": "bad",
  "target": {"protocol": "http", "urll": "http://127.0.0.1:8501/"},
  "data": {"texts": ["a"]},
  "load": {"model": "open", "stages": [{"duration": 30, "rate": 10}, {"duration": "10s", "rate": -5}]}
}`), "json")
	fmt.Println(err)
	// Output:
	// invalid plan: 4 problems:
	//   load.stages[0].duration: want a duration string like "30s"
	//   target.urll: unknown field
	//   target.url: required for protocol http
	//   load.stages[1].rate: must be >= 0, got -5
}

// A preset fills the URL's path and the body; a batch of 2 puts two texts
// in each request, and a check renders each text's expected label.
func ExampleTarget_RenderRequests() {
	p, err := plan.Parse([]byte(`
name: oip batch
target:
  protocol: http
  url: http://127.0.0.1:8000
  preset: {name: oip_v2, model: news}
  batch: 2
  check: {path: "outputs[0].data[*]", equals: "{{.Record.label}}"}
data:
  texts: [unused]
load:
  model: open
  stages: [{duration: 10s, rate: 10}]
`), "yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	corpus, err := plan.ReadCorpus(strings.NewReader(`{"text": "stocks rally", "label": "business"}
{"text": "team wins", "label": "sports"}
{"text": "new chip", "label": "tech"}
`), "news.jsonl", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := p.Target.RenderRequests(corpus, plan.RenderLimits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Target.Method, p.Target.URL)
	for i, b := range r.Bodies {
		fmt.Printf("%s %q\n", b, r.Expect[i])
	}
	// Output:
	// POST http://127.0.0.1:8000/v2/models/news/infer
	// {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["stocks rally","team wins"]}]} ["business" "sports"]
	// {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["new chip","stocks rally"]}]} ["tech" "business"]
}
