package aggregate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/search"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// readers is how many objects a Tracker reads and decodes at once: Cloud
// Storage answers a Get in 10-20 ms, so reads one at a time would make a
// 200-shard slice cost seconds.
const readers = 32

// Tracker is what an aggregator has merged of one run. Each slice object is
// read and decoded once per Tracker, merged into its slice index in sparse
// form (slice.Compact), and never kept on its own: memory follows the
// number of slices, not shards × slices, and an update costs in proportion
// to the objects that are new since the last one.
//
// A Tracker built with sealed set also reads and writes sealed slices
// (runs/<id>/merged/<k>.pb): a slice every shard reported, or whose
// stragglers' time is up, is written once as one object, so that a
// restarted aggregator reads one object per slice instead of one per shard.
// `cicada aggregate` builds its Tracker without sealed slices, from the raw
// objects alone, and gets the same report.
//
// A Tracker is not safe for concurrent use.
type Tracker struct {
	st     store.Store
	id     string
	sealed bool

	loaded   bool
	run      runs.Run
	plan     *plan.Plan
	planJSON []byte
	// invalid is why plan.json cannot run (runs.Stored.InvalidReason): a
	// plan no trigger accepted, which every worker refuses. "" for a
	// valid plan.
	invalid string

	slices   []*slice.Compact // by index; nil until an object of it arrives
	isSealed []bool
	// badNames are slice object names that are not of this plan's layout;
	// recorded once.
	badNames map[string]string
	// decoded counts the slice objects read and decoded, each once.
	decoded int
	// memo keeps a search run's judged probes (search.Memo).
	memo *search.Memo
}

// NewTracker returns a Tracker of run id. With sealed, it starts from the
// run's sealed slices and may seal more (Seal); without, it reads only the
// raw slice objects.
func NewTracker(st store.Store, id string, sealed bool) *Tracker {
	return &Tracker{st: st, id: id, sealed: sealed, badNames: map[string]string{}}
}

// Decoded is how many slice objects this Tracker has read and decoded.
func (t *Tracker) Decoded() int { return t.decoded }

// load reads run.json and plan.json, and the sealed slices, once.
func (t *Tracker) load(ctx context.Context) error {
	if t.loaded {
		return nil
	}
	// Leniently: a plan written into the bucket that does not validate
	// is still reported on, with the reason, rather than left unread.
	stored, err := runs.ReadLenient(ctx, t.st, t.id)
	if err != nil {
		return err
	}
	p := stored.Plan
	t.run, t.plan, t.planJSON, t.invalid = stored.Run, p, stored.PlanJSON, stored.InvalidReason()
	n := p.NumSlices()
	t.slices = make([]*slice.Compact, n)
	t.isSealed = make([]bool, n)
	if t.sealed {
		if err := t.readSealed(ctx); err != nil {
			return err
		}
	}
	t.loaded = true
	return nil
}

// readSealed reads every sealed slice of the run. A sealed object that
// cannot be decoded is ignored: its slice is rebuilt from the raw objects.
func (t *Tracker) readSealed(ctx context.Context) error {
	names, err := t.st.List(ctx, runs.MergedPrefix(t.id))
	if err != nil {
		return fmt.Errorf("list sealed slices of run %s: %w", t.id, err)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for _, name := range names {
		k, err := runs.ParseMergedPath(t.id, name)
		if err != nil || k >= len(t.slices) {
			continue
		}
		g.Go(func() error {
			obj, err := t.st.Get(gctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read sealed slice %s: %w", name, err)
			}
			c, err := slice.UnmarshalSealed(obj.Data, t.id, k)
			if err != nil {
				return nil // rebuilt from the raw objects instead
			}
			mu.Lock()
			t.slices[k], t.isSealed[k] = c, true
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// Sync reads the slice objects this Tracker has not merged yet: those named
// in hints (from worker events), and, when list is set, every one the
// bucket lists (the events are a hint; the bucket is the truth). A slice
// object that cannot be decoded is recorded as corrupt, once. A failed read
// is returned; what was merged before it stays merged.
func (t *Tracker) Sync(ctx context.Context, hints []report.ShardSlice, list bool) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	type want struct {
		name     string
		shard, k int
	}
	var todo []want
	queued := map[report.ShardSlice]bool{}
	add := func(shard, k int) {
		ss := report.ShardSlice{Shard: shard, Slice: k}
		if queued[ss] || t.has(shard, k) {
			return
		}
		queued[ss] = true
		todo = append(todo, want{runs.SlicePath(t.id, shard, k), shard, k})
	}
	for _, h := range hints {
		if t.inPlan(h.Shard, h.Slice) {
			add(h.Shard, h.Slice)
		}
	}
	if list {
		names, err := t.st.List(ctx, runs.SlicePrefix(t.id))
		if err != nil {
			return fmt.Errorf("list slices of run %s: %w", t.id, err)
		}
		for _, name := range names {
			shard, k, err := runs.ParseSlicePath(t.id, name)
			switch {
			case err != nil:
				t.badNames[name] = err.Error()
			case !t.inPlan(shard, k):
				t.badNames[name] = fmt.Sprintf("shard %d slice %d is outside the plan (%d shards, %d slices)", shard, k, t.plan.Shards, len(t.slices))
			default:
				add(shard, k)
			}
		}
	}

	// In slice order, so that few slices are open (dense) at a time: a
	// slice is packed as soon as its last object of this round is in.
	slices.SortFunc(todo, func(a, b want) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.shard, b.shard)) })
	pending := map[int]int{}
	for _, w := range todo {
		pending[w.k]++
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for _, w := range todo {
		g.Go(func() error {
			obj, err := t.st.Get(gctx, w.name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("read slice %s: %w", w.name, err)
			}
			var piece *slice.Piece
			var bad error
			if err == nil {
				piece, bad = slice.DecodePiece(obj.Data)
			}
			mu.Lock()
			defer mu.Unlock()
			c := t.slices[w.k]
			if c == nil {
				c = slice.NewCompact(t.id, w.k)
				t.slices[w.k] = c
			}
			switch {
			case errors.Is(err, store.ErrNotFound):
				// A hint ahead of its write, or listed and gone.
			case bad == nil:
				t.decoded++
				bad = c.AddPiece(piece, w.shard)
			default:
				t.decoded++
			}
			if bad != nil {
				c.MarkCorrupt(w.shard, slice.Corrupt{Object: w.name, Error: bad.Error()})
			}
			if pending[w.k]--; pending[w.k] == 0 {
				c.Pack()
			}
			return nil
		})
	}
	return g.Wait()
}

func (t *Tracker) inPlan(shard, k int) bool {
	return shard >= 0 && shard < t.plan.Shards && k >= 0 && k < len(t.slices)
}

// has reports whether (shard, k) is merged, sealed or known corrupt.
func (t *Tracker) has(shard, k int) bool {
	c := t.slices[k]
	return t.isSealed[k] || (c != nil && (c.Has(shard) || c.IsCorrupt(shard)))
}

// Seal writes, once, each slice that is complete at now and not sealed yet:
// every shard reported (or its object is corrupt), or the slice ended more
// than straggle ago, after which no worker writes it. It returns how many
// slices it sealed. A Tracker built without sealed slices seals nothing.
func (t *Tracker) Seal(ctx context.Context, now time.Time, straggle time.Duration) (int, error) {
	if !t.sealed || !t.loaded {
		return 0, nil
	}
	sd := t.plan.SliceDuration()
	var mu sync.Mutex
	sealed := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for k, c := range t.slices {
		if c == nil || t.isSealed[k] || c.Reported() == 0 {
			continue
		}
		end := t.run.StartAt.Add(time.Duration(k+1) * sd)
		if c.Reported() < t.plan.Shards && now.Before(end.Add(straggle)) {
			continue
		}
		b, err := c.MarshalSealed()
		if err != nil {
			return sealed, err
		}
		g.Go(func() error {
			if _, err := t.st.Create(gctx, runs.MergedPath(t.id, k), b, "application/x-protobuf"); err != nil && !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("seal slice %d of run %s: %w", k, t.id, err)
			}
			mu.Lock()
			t.isSealed[k] = true
			sealed++
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return sealed, err
}

// Sealed reports whether slice k is sealed.
func (t *Tracker) Sealed(k int) bool { return k >= 0 && k < len(t.isSealed) && t.isSealed[k] }

// corrupt lists every object that could not be used, sorted by name.
func (t *Tracker) corrupt() []report.CorruptSlice {
	var out []report.CorruptSlice
	for name, why := range t.badNames {
		out = append(out, report.CorruptSlice{Object: name, Error: why})
	}
	for _, c := range t.slices {
		if c == nil {
			continue
		}
		for _, bad := range c.Corrupt {
			out = append(out, report.CorruptSlice{Object: bad.Object, Error: bad.Error})
		}
	}
	sortCorrupt(out)
	return out
}
