package runs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cicadaload/cicada/shared/store"
)

// ControlPath is the control object of a search run (load.search): the
// aggregator writes each probe's rate and the slice it starts at, and every
// worker reads it at each slice boundary.
func ControlPath(id string) string { return Prefix(id) + "control.json" }

// Control is control.json: the rate the whole fleet sends at, by slice.
type Control struct {
	// Probes in order. Probe i runs at Rate from slice From until the next
	// probe's From (the last one: until EndSlice or the run's end). The
	// worker's rate for slice k is the rate of the last probe with From <= k.
	Probes []ControlProbe `json:"probes"`
	// EndSlice, once set, ends the search: no slice >= EndSlice runs.
	EndSlice *int `json:"end_slice,omitempty"`
}

// ControlProbe is one probe of a search: Rate req/s for the whole plan,
// from slice From on. A Rest probe is never judged: it runs at a low rate
// after a probe that overloaded the target, so that the queues the
// overload left drain before the next probe is measured.
type ControlProbe struct {
	N    int     `json:"n"`
	Rate float64 `json:"rate"`
	From int     `json:"from"`
	Rest bool    `json:"rest,omitempty"`
}

// RateAt returns the rate of slice k: the rate of the last probe with
// From <= k; false when no probe covers k or the search ended before k.
func (c Control) RateAt(k int) (float64, bool) {
	if c.EndSlice != nil && k >= *c.EndSlice {
		return 0, false
	}
	rate, ok := 0.0, false
	for _, p := range c.Probes {
		if p.From > k {
			break
		}
		rate, ok = p.Rate, true
	}
	return rate, ok
}

// Check reports a control object that workers could not follow: probes
// numbered 0, 1, ... in order of a strictly growing From, positive rates,
// and EndSlice after the last probe's start.
func (c Control) Check() error {
	for i, p := range c.Probes {
		switch {
		case p.N != i:
			return fmt.Errorf("control: probe %d is numbered %d", i, p.N)
		case !(p.Rate > 0):
			return fmt.Errorf("control: probe %d has rate %v, want > 0", i, p.Rate)
		case p.From < 0 || (i > 0 && p.From <= c.Probes[i-1].From):
			return fmt.Errorf("control: probe %d starts at slice %d, not after probe %d", i, p.From, i-1)
		}
	}
	if c.EndSlice != nil && len(c.Probes) > 0 && *c.EndSlice <= c.Probes[len(c.Probes)-1].From {
		return fmt.Errorf("control: end_slice %d is not after the last probe's start %d", *c.EndSlice, c.Probes[len(c.Probes)-1].From)
	}
	return nil
}

// DecodeControl decodes and checks control.json.
func DecodeControl(data []byte) (Control, error) {
	var c Control
	if err := json.Unmarshal(data, &c); err != nil {
		return Control{}, fmt.Errorf("decode control.json: %w", err)
	}
	if err := c.Check(); err != nil {
		return Control{}, err
	}
	return c, nil
}

// ReadControl reads run id's control object and its generation, for a
// conditional WriteControl. An error wraps store.ErrNotFound when there
// is none yet.
func ReadControl(ctx context.Context, st store.Store, id string) (Control, int64, error) {
	obj, err := st.Get(ctx, ControlPath(id))
	if err != nil {
		return Control{}, 0, fmt.Errorf("read control object of run %s: %w", id, err)
	}
	c, err := DecodeControl(obj.Data)
	if err != nil {
		return Control{}, 0, fmt.Errorf("run %s: %w", id, err)
	}
	return c, obj.Generation, nil
}

// WriteControl writes run id's control object: only if absent when
// generation is 0, else only over that generation, so that two
// aggregators never overwrite each other's decision (store.ErrExists or
// store.ErrConflict: read it again). It returns the new generation.
func WriteControl(ctx context.Context, st store.Store, id string, generation int64, c Control) (int64, error) {
	if err := c.Check(); err != nil {
		return 0, fmt.Errorf("write control object of run %s: %w", id, err)
	}
	b := Encode(c)
	var err error
	if generation == 0 {
		generation, err = st.Create(ctx, ControlPath(id), b, "application/json")
	} else {
		generation, err = st.Replace(ctx, ControlPath(id), generation, b, "application/json")
	}
	if err != nil {
		return 0, fmt.Errorf("write control object of run %s: %w", id, err)
	}
	return generation, nil
}
