// Package load generates one shard's share of a plan's load and measures it
// into per-slice results.
//
// Open model: the shard's requests have intended send times fixed by the
// plan's schedule (plan.Schedule), whatever the target does. A pool of
// max_in_flight goroutines ("slots") claims requests in order; a slot that
// claims a request whose time has already passed proves that every slot was
// busy at that time, so the request is counted as dropped, never sent late.
// Latency is measured from the intended send time, so a stalled target is
// charged for the whole wait (no coordinated omission); service time is
// measured from the actual send. When there are fewer connections than slots,
// the wait for a connection is latency too.
//
// Closed model: each user sends, waits for the answer, thinks, repeats.
// Latency then equals service time: that is the coordinated omission the
// model cannot avoid, and the report says which model ran.
//
// Each slot records into its lane's recorder for the slice of the request's
// intended time. Slots take requests in time order, so once every slot has
// moved past slice k, slice k's last request has finished or timed out and
// the slice is closed and handed to the sink.
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/slice"
)

// Options configure the engine of one shard.
type Options struct {
	Plan *plan.Plan
	// Corpus is the data: texts, and the JSONL records a check's expected
	// values come from. Nil: Texts, as a corpus of plain texts, or when
	// Texts is nil too, Plan.Corpus.
	Corpus *plan.Corpus
	Texts  []string
	RunID  string
	// Shard is this engine's shard, 0 ≤ Shard < Shards; Shards 0 means the
	// plan's. Shard s sends global requests s, s+Shards, s+2·Shards, …
	Shard, Shards int
	// Start is the common start of slice 0 for every shard. Zero means
	// shortly after Run is called, once connections are open.
	Start time.Time
	// FirstSlice resumes a shard: requests of earlier slices are not sent
	// and those slices are not emitted.
	FirstSlice int
	// From resumes a shard inside FirstSlice, where it must fall (Start
	// must be set): requests intended before From are neither sent nor
	// counted, and the first slice's result covers [From, its end), its
	// Start being From, so that a partial slice is told from a whole one.
	// Zero, or the start of FirstSlice, means the whole slice.
	From time.Time
	// Writer names who measured, stored in each slice.
	Writer string
	// Sink receives each closed slice of this shard, in index order, from
	// one goroutine. It may block; slots keep sending meanwhile.
	Sink func(*slice.Result)
	// Goroutines runs the open model over plain HTTP with a goroutine per
	// request in flight instead of the event loop (see pacingGrid): exact
	// send times at about twice the CPU per request.
	Goroutines bool
	// ReadSecret reads a Secret Manager version (projects/P/secrets/S/
	// versions/V) the plan names, such as target.tls's client certificate.
	// New calls it; a secret that cannot be read fails New. Nil: a plan
	// naming a secret cannot run.
	ReadSecret func(ctx context.Context, name string) ([]byte, error)
	// Guard checks every connection's address as it is dialed (each name
	// resolved once, its addresses checked, one of them dialed) and bounds
	// rendering the requests; a refused dial is the outcome error:refused.
	// nil checks nothing (cicada run: the user is the operator).
	Guard *policy.Guard
	// Auth is the credential every request carries (credential.Open),
	// required when the plan has target.auth. The engine takes each new
	// value as it comes and never closes it.
	Auth *credential.Header
}

// Engine drives one shard. Create it with New, then call Run once.
type Engine struct {
	o        Options
	p        *plan.Plan
	sched    plan.ShardSchedule // the plan's schedule, bound to this shard
	table    *rateTable         // a search plan's rates by slice (SetRate); nil for stages
	proto    protocol
	reqs     *requestSet
	sliceDur time.Duration
	dur      time.Duration
	nSlices  int
	firstOff time.Duration // offset of the first request to send: FirstSlice's start, or From
	timeout  time.Duration
	random   bool

	stopAt atomic.Int64 // no request of a slice ≥ stopAt is sent

	sleepMu  sync.Mutex
	sleepers []*sleeper // every slot's timer, for StopAt to wake

	// Run state.
	startMono int64     // CLOCK_MONOTONIC ns of slice 0's start
	startWall time.Time // the same instant on the wall clock
	lanes     []*lane
	progress  []atomic.Int64 // per slot: the slot will never record below this slice
	notify    chan struct{}
	cpu       cpuGauge // the process's CPU use between emitted slices
}

// dropGrace is how late a claimed request may be before it counts as
// dropped. A slot that claims a request after its time proves all slots
// were busy at that time; a few microseconds absorb the claim itself.
const dropGrace = 20 * time.Microsecond

// New validates the options, renders every request once and prepares the
// protocol. It opens no connection yet.
func New(o Options) (*Engine, error) {
	p := o.Plan
	if p == nil {
		return nil, errors.New("load: no plan")
	}
	if o.Shards == 0 {
		o.Shards = p.Shards
	}
	if o.Shards < 1 || o.Shard < 0 || o.Shard >= o.Shards {
		return nil, fmt.Errorf("load: shard %d of %d is out of range", o.Shard, o.Shards)
	}
	if o.Corpus == nil && o.Texts != nil {
		o.Corpus = &plan.Corpus{Texts: o.Texts}
	}
	if o.Corpus == nil {
		c, err := p.Corpus()
		if err != nil {
			return nil, fmt.Errorf("load data: %w", err)
		}
		o.Corpus = c
	}
	if o.Corpus.Len() == 0 {
		return nil, errors.New("load: the plan's data has no texts")
	}
	e := &Engine{
		o:        o,
		p:        p,
		sched:    p.Schedule().Shard(o.Shard, o.Shards),
		sliceDur: p.SliceDuration(),
		dur:      p.Duration(),
		nSlices:  p.NumSlices(),
		timeout:  p.Target.Timeout.D(),
		random:   p.Data.Order == plan.OrderRandom,
	}
	if e.timeout <= 0 {
		e.timeout = plan.DefaultTimeout
	}
	if o.FirstSlice < 0 || o.FirstSlice > e.nSlices {
		return nil, fmt.Errorf("load: first slice %d is outside the plan's %d slices", o.FirstSlice, e.nSlices)
	}
	e.firstOff = time.Duration(o.FirstSlice) * e.sliceDur
	if !o.From.IsZero() {
		if o.Start.IsZero() {
			return nil, errors.New("load: From needs Start")
		}
		off := o.From.Sub(o.Start)
		if off < e.firstOff || off >= min(e.firstOff+e.sliceDur, e.dur) {
			return nil, fmt.Errorf("load: From %s is not inside first slice %d", off, o.FirstSlice)
		}
		e.firstOff = off
	}
	e.stopAt.Store(int64(e.nSlices))
	if p.Load.Search != nil && p.Load.Model == plan.ModelOpen {
		e.table = newRateTable(p.SearchRates(), e.sliceDur, o.Shard, o.Shards)
		e.sched = *e.table.sched.Load()
	}
	conns := max(p.Target.Connections, 1)
	pr, reqs, err := newProtocol(&p.Target, o.Corpus, conns, o.ReadSecret, o.Guard, o.Auth)
	if err != nil {
		return nil, err
	}
	e.proto, e.reqs = pr, reqs
	return e, nil
}

// StopAt stops the shard at the start of slice k: no request intended in
// slice k or later is sent, requests in flight finish, and slices before k
// are still emitted. Safe to call from any goroutine, any number of times;
// the lowest k wins.
func (e *Engine) StopAt(k int) {
	for {
		cur := e.stopAt.Load()
		if int64(k) >= cur {
			return
		}
		if e.stopAt.CompareAndSwap(cur, int64(k)) {
			break
		}
	}
	// Wake every sleeping slot: the ones waiting for a request of slice k
	// or later return. The store above comes before each fire, and each
	// slot checks the stop after arming its timer, so no sleep is missed.
	e.sleepMu.Lock()
	for _, sl := range e.sleepers {
		sl.fire()
	}
	e.sleepMu.Unlock()
}

// SetRate sets the open model's rate of a search plan (load.search) from
// slice from on: rate req/s for the whole plan, of which this shard sends
// its share, split by request number as with stages. Only slices not yet
// started change (a slice's rate is fixed a few milliseconds before its
// start): a request already timed keeps its time, and latency is still
// measured from it. It returns the first slice it applied to: from, or the
// first slice not yet started when from has; NumSlices when none is left
// or the plan has no search. Before Run any slice may change: a resumed
// shard is given the earlier probes' rates first, so that it numbers its
// requests as the shards that sent them did. Safe to call from any
// goroutine.
func (e *Engine) SetRate(from int, rate float64) int {
	if e.table == nil {
		return e.nSlices
	}
	return e.table.set(from, rate, monoNow())
}

// view returns the schedule to read arrivals from and the first slice
// whose rate may still change: the plan's and NumSlices for stages, the
// rate table's (see rateTable.view) for a search.
func (e *Engine) view(now int64) (*plan.ShardSchedule, int) {
	if e.table == nil {
		return &e.sched, e.nSlices
	}
	sch, f := e.table.view(now, e.startMono)
	return sch, int(min(f, int64(e.nSlices)))
}

// place returns the arrival (offset from the start) and slice of the
// shard's request j as fixed for good, waiting while its slice's rate may
// still change; ok is false when there is no such request or the shard
// stopped before it. A request past the slices already fixed falls in
// the first slice that is not, or later, whatever the rates of the slices
// to come: the slot promises the collector no slice below that one, and
// looks again as that slice is about to start.
// now is the clock when the slot claimed j, read once by the caller.
func (s *slot) place(j, now int64) (off time.Duration, k int, ok bool) {
	e := s.e
	for {
		sch, f := e.view(now)
		off = sch.Arrival(j)
		k = e.nSlices
		if off != plan.Never {
			k = e.sliceOf(off)
		}
		if k < f {
			return off, k, int64(k) < e.stopAt.Load()
		}
		if f >= e.nSlices || int64(f) >= e.stopAt.Load() {
			return 0, 0, false
		}
		s.advance(f)
		if !s.sleepUntil(e.startMono+int64(time.Duration(f)*e.sliceDur-freezeAhead), f) {
			return 0, 0, false
		}
		now = monoNow()
	}
}

// SliceAt returns the slice that the wall-clock time t falls in, relative to
// the run's start (negative before it).
func (e *Engine) SliceAt(t time.Time) int {
	d := t.Sub(e.o.Start)
	if d < 0 {
		return -1
	}
	return int(d / e.sliceDur)
}

// Start returns the common start of slice 0, known once Run has begun.
func (e *Engine) Start() time.Time { return e.o.Start }

// Discard releases what New set up for an engine that will not run (its
// gRPC channels); Run releases it for one that does.
func (e *Engine) Discard() { _ = e.proto.close() }

// Run sends the shard's load and emits its slices to the sink. It returns
// when the schedule is over (or StopAt's slice is reached) and every slice
// has been emitted, or when ctx ends: then no new request is sent, requests
// in flight finish, and only slices closed before are emitted.
func (e *Engine) Run(ctx context.Context) error {
	defer e.proto.close()
	if e.o.Start.IsZero() {
		e.o.Start = time.Now().Add(200 * time.Millisecond)
	}
	e.startWall = e.o.Start
	e.startMono = monoNow() + int64(time.Until(e.o.Start))
	e.cpu.start()
	if e.table != nil {
		// The slices before the first one sent, and the first one when
		// the shard starts inside it, number its requests: fixed now.
		first := e.o.FirstSlice
		if e.firstOff > time.Duration(first)*e.sliceDur {
			first++
		}
		e.table.start(e.startMono, first)
	}

	// A stopped context stops the shard at the current slice.
	stop := context.AfterFunc(ctx, func() { e.StopAt(max(e.SliceAt(time.Now()), 0)) })
	defer stop()

	if w := e.proto.eventLoop(); w != nil && e.p.Load.Model == plan.ModelOpen && eventLoopAvailable && !e.o.Goroutines {
		if err := e.runEventLoop(w); err != nil {
			return err
		}
		return ctx.Err()
	}

	var slots int
	switch e.p.Load.Model {
	case plan.ModelOpen:
		slots = max(e.p.Load.MaxInFlight, 1)
	case plan.ModelClosed:
		slots = e.maxShardUsers()
	default:
		return fmt.Errorf("load.model: unknown %q", e.p.Load.Model)
	}
	e.setupLanes(slots)
	conns := e.openConns(slots)
	defer func() {
		for _, c := range conns {
			c.closeConn()
		}
	}()
	var pool chan conn
	if !e.proto.shared() && slots > len(conns) {
		pool = make(chan conn, len(conns))
		for _, c := range conns {
			pool <- c
		}
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		e.collect(slots)
	}()

	var wg sync.WaitGroup
	var next atomic.Int64
	sch, _ := e.view(monoNow())
	next.Store(sch.CountBefore(e.firstOff))
	for i := range slots {
		s := &slot{e: e, id: i, lane: e.lanes[i%len(e.lanes)], pool: pool}
		if pool == nil {
			s.c = conns[i%len(conns)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer e.finish(s.id)
			sl, err := newSleeper()
			if err != nil {
				s.lane.sampleErr(e.o.FirstSlice, fmt.Sprintf("timer: %v", err))
				return
			}
			s.sleep = sl
			e.sleepMu.Lock()
			e.sleepers = append(e.sleepers, sl)
			e.sleepMu.Unlock()
			defer func() {
				// Out of StopAt's reach before its fd is closed and reused.
				e.sleepMu.Lock()
				e.sleepers = slices.DeleteFunc(e.sleepers, func(x *sleeper) bool { return x == sl })
				e.sleepMu.Unlock()
				sl.close()
			}()
			if e.p.Load.Model == plan.ModelOpen {
				s.runOpen(&next)
			} else {
				s.runClosed()
			}
		}()
	}
	wg.Wait()
	<-done
	return ctx.Err()
}

// openConns opens the connections before the start, so that the first
// requests do not pay for a handshake. A connection that fails now is
// retried by its first request, which then records the failure.
func (e *Engine) openConns(slots int) []conn {
	n := max(e.p.Target.Connections, 1)
	if !e.proto.shared() {
		n = min(n, slots) // more connections than slots would sit idle
	}
	conns := make([]conn, n)
	var wg sync.WaitGroup
	deadline := time.Now().Add(min(e.timeout, max(time.Until(e.o.Start), 100*time.Millisecond)))
	for i := range conns {
		c := e.proto.newConn()
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.warm(deadline)
		}()
	}
	e.proto.warm(deadline)
	wg.Wait()
	return conns
}

// maxShardUsers is the most users this shard ever runs.
func (e *Engine) maxShardUsers() int {
	most := 0
	var t time.Duration
	for _, st := range e.p.Load.Stages {
		most = max(most, e.sched.UsersAt(t))
		t += st.Duration.D()
		most = max(most, e.sched.UsersAt(t-1))
	}
	return max(most, 1)
}

// reqIndex picks the request (of the rendered ones, one per batch of
// texts) that global request g sends.
func (e *Engine) reqIndex(g int64) int {
	if e.random {
		return int(splitmix(uint64(g)) % uint64(e.reqs.n))
	}
	return int(g % int64(e.reqs.n))
}

// splitmix is a fast, well-mixed hash, so that "random" order is the same
// for a resumed shard as for the original one.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sliceOf returns the slice of an offset from the start.
func (e *Engine) sliceOf(off time.Duration) int { return int(off / e.sliceDur) }

// slot is one in-flight request's worth of sending: a goroutine, its timer,
// and a connection of its own or from the pool.
type slot struct {
	e     *Engine
	id    int
	lane  *lane
	c     conn      // own connection, when there is no pool
	pool  chan conn // shared connections, when slots outnumber them
	sleep *sleeper
	wait  *time.Timer
	cur   int // slice currently recorded into
}

// advance moves the slot to slice k, telling the collector that it will
// never record below k again.
func (s *slot) advance(k int) {
	if k > s.cur {
		s.cur = k
		s.e.progress[s.id].Store(int64(k))
		select {
		case s.e.notify <- struct{}{}:
		default:
		}
	}
}

// sleepUntil sleeps until mono and reports false if the shard was stopped
// at or before slice k meanwhile. One sleep per request: a slot that claims
// a request far ahead sleeps until then, and StopAt wakes it.
func (s *slot) sleepUntil(mono int64, k int) bool {
	stopped := func() bool { return int64(k) >= s.e.stopAt.Load() }
	for !stopped() {
		if monoNow() >= mono {
			return true
		}
		if !s.sleep.arm(mono) {
			time.Sleep(time.Duration(mono - monoNow()))
			continue
		}
		if stopped() { // checked after arming: see StopAt
			return false
		}
		s.sleep.wait()
	}
	return false
}

func (s *slot) runOpen(next *atomic.Int64) {
	e := s.e
	s.cur = e.o.FirstSlice
	grace := int64(dropGrace)
	for {
		j := next.Add(1) - 1
		// The claim, not the end of place, says whether every slot was
		// busy: place may sleep until a search's next slice is fixed, and
		// a late wake-up from that sleep is the generator's lateness, not
		// a drop.
		claimed := monoNow()
		off, k, ok := s.place(j, claimed)
		if !ok {
			return
		}
		s.advance(k)
		intended := e.startMono + int64(off)
		if claimed > intended+grace {
			s.lane.drop(k)
			continue
		}
		if !s.sleepUntil(intended, k) {
			return
		}
		s.send(k, e.sched.Global(j), intended)
	}
}

// send sends the request of global number g and records it in slice k.
func (s *slot) send(k int, g, intended int64) {
	e := s.e
	c := s.c
	// Lateness is the generator's own lag: how late the slot woke for the
	// request. A wait for a free connection afterwards is the target's
	// slowness, counted in latency, not in lateness.
	lateness := time.Duration(max(monoNow()-intended, 0))
	i := e.reqIndex(g)
	if c == nil {
		var ok bool
		if c, ok = s.acquire(intended); !ok {
			// No connection freed up within the timeout. The request held
			// an in-flight slot all along, so it counts as a timeout.
			now := monoNow()
			s.lane.record(k, i, &result{outcome: outcomeTimeout, err: errNoFreeConn}, time.Duration(now-intended), 0, lateness)
			return
		}
		defer func() { s.pool <- c }()
	}
	sendAt := monoNow()
	deadline := e.startWall.Add(time.Duration(sendAt - e.startMono + int64(e.timeout)))
	r := c.do(i, deadline)
	end := monoNow()
	s.lane.record(k, i, &r, time.Duration(end-intended), time.Duration(end-sendAt), lateness)
}

// errNoFreeConn is the sample error of a request that waited its whole
// timeout for a connection.
var errNoFreeConn = errors.New("no free connection within the timeout")

// acquire waits for a pooled connection until the request's timeout.
func (s *slot) acquire(intended int64) (conn, bool) {
	select {
	case c := <-s.pool:
		return c, true
	default:
	}
	left := time.Duration(intended + int64(s.e.timeout) - monoNow())
	if left <= 0 {
		return nil, false
	}
	if s.wait == nil {
		s.wait = time.NewTimer(left)
	} else {
		s.wait.Reset(left)
	}
	select {
	case c := <-s.pool:
		s.wait.Stop()
		return c, true
	case <-s.wait.C:
		return nil, false
	}
}

// runClosed is one user: send, wait, think, repeat, while the stage's user
// count includes this user.
func (s *slot) runClosed() {
	e := s.e
	s.cur = e.o.FirstSlice
	think := e.p.Load.ThinkTime.D()
	// Users pick texts in turn: user i's j-th request is the shard's
	// request j·users + i.
	users := int64(len(e.progress))
	var j int64
	for {
		now := monoNow()
		off := time.Duration(now - e.startMono)
		if off < e.firstOff {
			off = e.firstOff
			if !s.sleepUntil(e.startMono+int64(off), e.o.FirstSlice) {
				return
			}
			continue
		}
		if off >= e.dur {
			return
		}
		k := e.sliceOf(off)
		if int64(k) >= e.stopAt.Load() {
			return
		}
		s.advance(k)
		if e.sched.UsersAt(off) <= s.id {
			// Not active now: look again shortly, and at the next slice.
			wake := min(e.startMono+int64(time.Duration(k+1)*e.sliceDur), now+int64(10*time.Millisecond))
			if !s.sleepUntil(wake, k) {
				return
			}
			continue
		}
		s.send(k, e.sched.Global(j*users+int64(s.id)), now)
		j++
		if think > 0 && !s.sleepUntil(monoNow()+int64(think), k) {
			return
		}
	}
}

// finish marks a slot as done with every slice.
func (e *Engine) finish(id int) {
	e.progress[id].Store(math.MaxInt64)
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

func (e *Engine) setupLanes(slots int) {
	n := min(slots, maxLanes)
	e.lanes = make([]*lane, n)
	for i := range e.lanes {
		e.lanes[i] = &lane{reqs: e.reqs, lateBound: e.o.Plan.LateBound()}
	}
	e.progress = make([]atomic.Int64, slots)
	for i := range e.progress {
		e.progress[i].Store(int64(e.o.FirstSlice))
	}
	e.notify = make(chan struct{}, 1)
}

// collect emits slices in order as soon as every slot has moved past them.
func (e *Engine) collect(slots int) {
	next := e.o.FirstSlice
	for {
		low := int64(math.MaxInt64)
		for i := range e.progress {
			low = min(low, e.progress[i].Load())
		}
		end := min(low, e.stopAt.Load(), int64(e.nSlices))
		for ; int64(next) < end; next++ {
			e.emit(next)
		}
		if low == math.MaxInt64 {
			return // every slot is done
		}
		<-e.notify
	}
}

// emit folds every lane's recorder of slice k into one result.
func (e *Engine) emit(k int) {
	start := e.startWall.Add(time.Duration(k) * e.sliceDur)
	if k == e.o.FirstSlice {
		start = e.startWall.Add(e.firstOff) // From, for a partial first slice
	}
	end := e.startWall.Add(min(time.Duration(k+1)*e.sliceDur, e.dur))
	r := slice.NewResult(e.o.RunID, e.o.Shard, k, start, end)
	r.Writer = e.o.Writer
	r.ShardsReporting = 1
	r.GeneratorCPU = e.cpu.read()
	for _, l := range e.lanes {
		l.take(k, r)
	}
	if e.o.Sink != nil {
		e.o.Sink(r)
	}
}

// requestSet is what the engine knows of a target's rendered requests:
// how many, and the texts each carries, for the measurements of batches.
type requestSet struct {
	n     int     // requests; the engine's picks are in [0, n)
	batch int     // texts per request
	first []int   // first[i]: corpus index of request i's first text
	chars []int32 // each corpus text's length in characters
}

// record counts request i's instances and the lengths of its texts. A
// request of one text counts its length at once; a batch only counts the
// request in sent, and its texts' lengths are counted when the slice is
// taken (expand): a batch of 1,024 texts would otherwise cost 1,024 map
// increments per request, under the lane's lock.
func (s *requestSet) record(rec *slice.Recorder, sent *sentCounts, i int) {
	if s == nil {
		return
	}
	rec.Instances(int64(s.batch))
	switch {
	case len(s.chars) == 0:
	case s.batch == 1:
		rec.TextChars(int(s.chars[s.first[i]%len(s.chars)]))
	default:
		sent.add(i, s.n)
	}
}

// expand counts the lengths of the texts of the requests in sent into rec,
// and empties sent. It costs the distinct requests sent times the batch,
// however often each was sent.
func (s *requestSet) expand(rec *slice.Recorder, sent *sentCounts) {
	if s == nil || len(s.chars) == 0 {
		return
	}
	count := func(i int, c int64) {
		f := s.first[i]
		for j := range s.batch {
			rec.TextCharsN(int(s.chars[(f+j)%len(s.chars)]), c)
		}
	}
	for i, c := range sent.dense {
		if c > 0 {
			count(i, c)
		}
	}
	for i, c := range sent.sparse {
		count(int(i), c)
	}
	clear(sent.dense)
	clear(sent.sparse)
}

// maxDenseSent bounds the requests counted in an array (8 bytes each, per
// lane and open slice); beyond it a map holds the requests actually sent.
const maxDenseSent = 1 << 14

// sentCounts counts how often each request of a batch target was sent
// in one slice.
type sentCounts struct {
	dense  []int64
	sparse map[int32]int64
}

func (c *sentCounts) add(i, n int) {
	if n <= maxDenseSent {
		if c.dense == nil {
			c.dense = make([]int64, n)
		}
		c.dense[i]++
		return
	}
	if c.sparse == nil {
		c.sparse = map[int32]int64{}
	}
	c.sparse[int32(i)]++
}

// maxLanes bounds the recorders per shard: each holds two dense histograms
// (about 280 KB), so thousands of slots cannot each have their own.
const maxLanes = 16

// lane is a recorder set shared by a few slots, one recorder per open slice.
// Its mutex is uncontended in the common case (a lane per slot up to
// maxLanes), and taken only briefly by the collector.
type lane struct {
	reqs      *requestSet
	lateBound time.Duration // the plan's max_lateness, for each recorder
	mu        sync.Mutex
	recs      []laneRec
	lastK     int
	last      *laneRec
	spare     []laneRec // taken recorders, reset, for the next slices
	_         [64]byte  // keep lanes on separate cache lines
}

type laneRec struct {
	k       int
	rec     *slice.Recorder
	sent    *sentCounts // requests of a batch target sent (requestSet.record)
	samples int
}

// get returns the recorder of slice k; the caller holds l.mu.
func (l *lane) get(k int) *laneRec {
	if l.last != nil && l.lastK == k {
		return l.last
	}
	for i := range l.recs {
		if l.recs[i].k == k {
			l.last, l.lastK = &l.recs[i], k
			return l.last
		}
	}
	var lr laneRec
	if n := len(l.spare); n > 0 {
		lr, l.spare = l.spare[n-1], l.spare[:n-1]
	} else {
		lr = laneRec{rec: slice.NewRecorder(), sent: &sentCounts{}}
		lr.rec.SetLateBound(l.lateBound)
	}
	lr.k, lr.samples = k, 0
	l.recs = append(l.recs, lr)
	l.last, l.lastK = &l.recs[len(l.recs)-1], k
	return l.last
}

func (l *lane) drop(k int) {
	l.mu.Lock()
	r := l.get(k).rec
	r.Intend(1)
	r.Drop(1)
	l.mu.Unlock()
}

// maxLaneSamples bounds error messages rendered per lane and slice: err.Error
// allocates, and a dead target fails every request.
const maxLaneSamples = slice.MaxSampleErrors

// record records request i (of l.reqs) of slice k: r's outcome, bytes and
// check, the instances it carried and the lengths of its texts, and r.err
// among the sample errors while the slice keeps fewer than maxLaneSamples
// (rendered only then: err.Error allocates, and a dead target fails every
// request).
func (l *lane) record(k, i int, r *result, latency, service, lateness time.Duration) {
	l.mu.Lock()
	lr := l.get(k)
	lr.rec.Intend(1)
	lr.rec.Record(r.outcome, r.ok, latency, service, r.sent, r.recv, lateness)
	if r.checked > 0 {
		lr.rec.Checked(int64(r.checked), int64(r.correct))
	}
	l.reqs.record(lr.rec, lr.sent, i)
	if r.err != nil && lr.samples < maxLaneSamples {
		if msg := r.err.Error(); msg != "" {
			lr.samples++
			lr.rec.SampleError(msg)
		}
	}
	l.mu.Unlock()
}

func (l *lane) sampleErr(k int, msg string) {
	l.mu.Lock()
	l.get(k).rec.SampleError(msg)
	l.mu.Unlock()
}

// take moves slice k's recorder into r and keeps the recorder for reuse.
func (l *lane) take(k int, r *slice.Result) {
	l.mu.Lock()
	var lr laneRec
	found := false
	for i := range l.recs {
		if l.recs[i].k == k {
			lr, found = l.recs[i], true
			l.recs = append(l.recs[:i], l.recs[i+1:]...)
			l.last = nil
			break
		}
	}
	l.mu.Unlock()
	if !found {
		return
	}
	// Out of the lock: the lane's slots go on recording later slices.
	l.reqs.expand(lr.rec, lr.sent)
	r.AddRecorder(lr.rec)
	lr.rec.Reset()
	l.mu.Lock()
	l.spare = append(l.spare, lr)
	l.mu.Unlock()
}
