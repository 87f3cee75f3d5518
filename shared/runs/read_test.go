package runs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cicadaload/cicada/shared/store"
)

// mapStore is a bucket of fixed objects that only Get reads from.
type mapStore struct {
	store.Store
	objects map[string]string
	err     error // every Get fails with it when set
}

func (m mapStore) Get(_ context.Context, name string) (store.Object, error) {
	if m.err != nil {
		return store.Object{}, m.err
	}
	data, ok := m.objects[name]
	if !ok {
		return store.Object{}, store.ErrNotFound
	}
	return store.Object{Name: name, Data: []byte(data), Generation: 1}, nil
}

func TestRead(t *testing.T) {
	t.Parallel()
	const id = "20261127-040512-3f9a1c"
	start := time.Date(2026, 11, 27, 4, 5, 20, 0, time.UTC)
	run := Run{ID: id, PlanName: "p", Shards: 2, Created: start.Add(-8 * time.Second), StartAt: start, End: start.Add(10 * time.Second)}
	const planJSON = `{"name": "p", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/", "expect_status": [202]},
		"data": {"texts": ["a"]}, "load": {"model": "open", "stages": [{"duration": "10s", "rate": 10}]}, "shards": 2}`
	good := map[string]string{RunPath(id): string(Encode(run)), PlanPath(id): planJSON}
	without := func(name string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	with := func(name, data string) map[string]string {
		m := without(name)
		m[name] = data
		return m
	}
	broken := errors.New("bucket down")
	tests := []struct {
		name     string
		st       mapStore
		wantErr  string
		notFound bool // the error wraps store.ErrNotFound
	}{
		{"both there", mapStore{objects: good}, "", false},
		{"no run.json", mapStore{objects: without(RunPath(id))}, "read run " + id, true},
		{"no plan.json", mapStore{objects: without(PlanPath(id))}, "read plan of run " + id, true},
		{"run.json not JSON", mapStore{objects: with(RunPath(id), "{")}, "decode run.json", false},
		{"plan.json invalid", mapStore{objects: with(PlanPath(id), `{"name": "p"}`)}, "plan of run " + id, false},
		{"bucket fails", mapStore{err: broken}, "bucket down", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Read(context.Background(), tt.st, id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read error = %v, want %q", err, tt.wantErr)
				}
				if errors.Is(err, store.ErrNotFound) != tt.notFound {
					t.Errorf("Read error %v wraps store.ErrNotFound = %v, want %v", err, !tt.notFound, tt.notFound)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got.Run != run {
				t.Errorf("Run = %+v, want %+v", got.Run, run)
			}
			if got.Plan.Name != "p" || got.Plan.Shards != 2 || !got.Plan.Target.Success("http:202") || got.Plan.Target.Success("http:200") {
				t.Errorf("Plan = %+v, want plan.json decoded with its expect_status", got.Plan)
			}
			if string(got.PlanJSON) != planJSON {
				t.Errorf("PlanJSON = %s, want plan.json as stored", got.PlanJSON)
			}
		})
	}
}

func TestDecodeRun(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 4, 5, 20, 0, time.UTC)
	want := Run{ID: "r", PlanName: "p", Shards: 3, StartAt: start, End: start.Add(time.Minute), IdempotencyKey: "k"}
	tests := []struct {
		name    string
		data    string
		want    Run
		wantErr bool
	}{
		{"round trip", string(Encode(want)), want, false},
		{"unknown fields are ignored", `{"run_id": "r", "extra": 1}`, Run{ID: "r"}, false},
		{"not JSON", "run", Run{}, true},
		{"wrong type", `{"shards": "3"}`, Run{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRun([]byte(tt.data))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("DecodeRun(%s) = %+v, %v; want %+v, error %v", tt.data, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestReadLenient: a plan.json that no trigger would accept, written into
// the bucket, is kept for reporting when only what it sends is wrong (a
// template bomb, a bad header), with the reason; Read still refuses it.
// A plan whose shape is wrong is refused by both.
func TestReadLenient(t *testing.T) {
	t.Parallel()
	const id = "20261127-040512-3f9a1c"
	start := time.Date(2026, 11, 27, 4, 5, 20, 0, time.UTC)
	run := Run{ID: id, PlanName: "p", Shards: 2, StartAt: start, End: start.Add(10 * time.Second)}
	planWith := func(target, rest string) string {
		return `{"name": "p", "target": {"protocol": "http", "url": "http://127.0.0.1:8501/"` + target + `},
		"data": {"texts": ["a"]}, "load": {"model": "open", "stages": [{"duration": "10s", "rate": 10}]}, "shards": 2` + rest + `}`
	}
	tests := []struct {
		name       string
		plan       string
		wantErr    string // of ReadLenient; "" = read
		wantReason []string
	}{
		{"valid", planWith("", ""), "", nil},
		{"template bomb", planWith(`, "body": "{{range 30000000}}x{{end}}"`, ""), "",
			[]string{"plan.json is not a valid plan", "target.body", "range"}},
		{"bad header", planWith(`, "headers": {"X-A": "a\nb"}`, ""), "",
			[]string{`target.headers["X-A"]: header value must not contain CR, LF or NUL`}},
		{"broken shape", planWith(`, "body": "{{range 3}}x{{end}}"`, `, "slice": "1ms"`), "plan of run " + id, nil},
		{"not JSON", "{", "plan of run " + id, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := mapStore{objects: map[string]string{RunPath(id): string(Encode(run)), PlanPath(id): tt.plan}}
			got, err := ReadLenient(context.Background(), st, id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadLenient error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadLenient: %v", err)
			}
			if got.Plan == nil || got.Plan.Shards != 2 || got.Plan.NumSlices() != 1 || got.Run != run {
				t.Fatalf("ReadLenient = %+v, want the run and its plan's shape", got)
			}
			reason := got.InvalidReason()
			_, strictErr := Read(context.Background(), st, id)
			if tt.wantReason == nil {
				if reason != "" || got.Invalid != nil || strictErr != nil {
					t.Errorf("valid plan: reason %q, Read error %v; want none", reason, strictErr)
				}
				return
			}
			for _, w := range tt.wantReason {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q does not say %q", reason, w)
				}
			}
			if strings.Contains(reason, "\n") {
				t.Errorf("reason %q is not one line", reason)
			}
			if strictErr == nil {
				t.Error("Read accepted a plan that does not validate")
			}
		})
	}
}
