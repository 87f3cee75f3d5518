// Package slice records what one shard measured in one time slice of a run and
// merges such slice results exactly.
//
// # Counters
//
// Every request of a run belongs to the slice of its intended send time. For a
// slice, the counters mean:
//
//   - Intended: requests whose intended send time fell in the slice. The
//     engine reports them with Recorder.Intend, separately from what then
//     happened to them.
//   - Dropped: intended requests that were never attempted because the shard's
//     in-flight cap was reached (Recorder.Drop). Drop does not count them as
//     intended: the engine calls Intend for them as well.
//   - Sent: requests the engine attempted to send, including attempts that
//     failed before or during the send (connect refused, DNS, TLS). Such a
//     failure is not a drop: the generator did try on schedule, and the
//     target's unavailability is what the test measures.
//   - Completed: sent requests whose fate is known: an answer of any status, a
//     transport error (including failing to connect) or a timeout. Every
//     completed request records exactly one latency and one service time, so
//     both histograms' TotalCount equals Completed, and the outcome counts sum
//     to Completed.
//   - Errors: completed requests recorded with ok=false (a non-success status,
//     a timeout, a transport error).
//
// Once a slice is closed (its last request finished or timed out), Intended ==
// Sent + Dropped and Sent == Completed for a slice written by a healthy
// engine; Validate only enforces the relations that hold whatever the engine
// does: Errors <= Completed <= Sent.
//
// # Histograms
//
// Latency is measured from the intended send time (no coordinated omission)
// and service time from the actual send, both in microseconds in HdrHistograms
// of 1 µs to 60 s at 3 significant digits. Values outside that range are
// clamped to it rather than lost, so that every completed request is counted.
//
// # Recording and merging
//
// Each engine goroutine owns a Recorder (no locks, no allocation per request
// in steady state); at the slice boundary the recorders are folded into a
// Result with AddRecorder, which is then encoded with Marshal. Results merge
// exactly with Merge: histogram merge plus counter sums, associative and
// order-independent.
package slice

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cicadaload/cicada/shared/redact"
)

// Histogram geometry shared by every slice: microseconds from 1 µs to 60 s at
// 3 significant digits. Histograms of one geometry merge exactly.
const (
	LowestUS  = 1
	HighestUS = 60_000_000
	SigFigs   = 3
)

// MaxSampleErrors is how many distinct sample error messages a Recorder or a
// Result keeps: enough for a human to see what went wrong, bounded in size.
const MaxSampleErrors = 5

// MaxSampleErrorLen is the length in bytes a sample error message is cut to.
const MaxSampleErrorLen = 200

// NewHistogram returns an empty histogram of the slice geometry.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LowestUS, HighestUS, SigFigs)
}

// clampUS converts d to whole microseconds within [LowestUS, HighestUS], so
// that a sub-microsecond, negative or over-long value is still counted.
func clampUS(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < LowestUS {
		return LowestUS
	}
	if us > HighestUS {
		return HighestUS
	}
	return us
}

// Recorder accumulates one goroutine's measurements for one slice. It is not
// safe for concurrent use: give each goroutine its own and fold them with
// Result.AddRecorder at the slice boundary. Record does not allocate once every
// outcome key has been seen (Reset keeps the keys and histograms).
type Recorder struct {
	intended, sent, completed, dropped, errors int64
	bytesSent, bytesRecv                       int64
	maxLatenessUS, sumLatenessUS               int64
	late, lateBoundUS                          int64 // lateBoundUS: see SetLateBound
	instances, checked, correct                int64
	textChars                                  map[int64]int64

	outcomes map[string]int64
	samples  [MaxSampleErrors]string
	nSamples int

	latency, service *hdrhistogram.Histogram
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		outcomes:  make(map[string]int64, 8),
		textChars: make(map[int64]int64),
		latency:   NewHistogram(),
		service:   NewHistogram(),
	}
}

// SetLateBound sets the lateness beyond which a request counts as late
// (the plan's max_lateness); zero counts none. Reset keeps it.
func (r *Recorder) SetLateBound(d time.Duration) { r.lateBoundUS = int64(d / time.Microsecond) }

// Intend counts n requests whose intended send time fell in this slice,
// whatever then happens to them (sent or dropped).
func (r *Recorder) Intend(n int64) { r.intended += n }

// Drop counts n intended requests that were not sent because the in-flight cap
// was reached. It does not count them as intended: the engine calls Intend for
// them too, as for every scheduled request.
func (r *Recorder) Drop(n int64) { r.dropped += n }

// Record counts one completed request: sent and completed by one, errors by
// one if !ok, the outcome key (like "http:200", "grpc:UNAVAILABLE",
// "error:timeout") by one, and the latency (from the intended send time) and
// service time (from the actual send) in the histograms, clamped to 1 µs..60 s.
// lateness is the actual send time minus the intended one; negative lateness
// counts as zero.
func (r *Recorder) Record(outcome string, ok bool, latency, service time.Duration, bytesSent, bytesRecv int64, lateness time.Duration) {
	r.sent++
	r.completed++
	if !ok {
		r.errors++
	}
	r.outcomes[outcome]++
	r.bytesSent += bytesSent
	r.bytesRecv += bytesRecv
	// Clamped values are always in range, so RecordValue cannot fail.
	_ = r.latency.RecordValue(clampUS(latency))
	_ = r.service.RecordValue(clampUS(service))
	if l := int64(lateness / time.Microsecond); l > 0 {
		r.sumLatenessUS += l
		if l > r.maxLatenessUS {
			r.maxLatenessUS = l
		}
		if r.lateBoundUS > 0 && l > r.lateBoundUS {
			r.late++
		}
	}
}

// Instances counts n instances carried by a completed request: its batch
// size (1 without target.batch).
func (r *Recorder) Instances(n int64) { r.instances += n }

// Checked counts instances whose prediction was compared with its expected
// value, correct of which matched.
func (r *Recorder) Checked(checked, correct int64) {
	r.checked += checked
	r.correct += correct
}

// TextChars counts one text sent of n characters. It does not allocate
// once a length has been seen (Reset keeps the keys).
func (r *Recorder) TextChars(n int) { r.textChars[int64(n)]++ }

// TextCharsN counts count texts sent of n characters each.
func (r *Recorder) TextCharsN(n int, count int64) { r.textChars[int64(n)] += count }

// RecordFailedSend counts a request that failed before or during its send (a
// connect error, say) as sent, completed and an error, under outcome (like
// "error:connect"), keeps errMsg as a sample error, and records latency as both
// its latency and its service time, since nothing else is known. It equals
// Record(outcome, false, latency, latency, 0, 0, 0) followed by
// SampleError(errMsg); call those directly when service time and lateness are
// known.
func (r *Recorder) RecordFailedSend(outcome string, errMsg string, latency time.Duration) {
	r.Record(outcome, false, latency, latency, 0, 0, 0)
	r.SampleError(errMsg)
}

// SampleError keeps msg, its credentials redacted (redact.Text: an error of
// an https target quotes its URL, query and all) and cut to
// MaxSampleErrorLen bytes, if fewer than MaxSampleErrors distinct messages
// are kept so far. It allocates only when it keeps a message whose
// redaction, cut or UTF-8 repair needs a copy.
func (r *Recorder) SampleError(msg string) {
	if r.nSamples == MaxSampleErrors {
		return
	}
	msg = cleanMessage(redact.Text(msg))
	for _, s := range r.samples[:r.nSamples] {
		if s == msg {
			return
		}
	}
	r.samples[r.nSamples] = msg
	r.nSamples++
}

// Reset zeroes the Recorder for the next slice, keeping its outcome keys and
// histograms so that recording does not allocate again.
func (r *Recorder) Reset() {
	r.intended, r.sent, r.completed, r.dropped, r.errors = 0, 0, 0, 0, 0
	r.bytesSent, r.bytesRecv = 0, 0
	r.maxLatenessUS, r.sumLatenessUS, r.late = 0, 0, 0
	r.instances, r.checked, r.correct = 0, 0, 0
	for n := range r.textChars {
		r.textChars[n] = 0
	}
	for k := range r.outcomes {
		r.outcomes[k] = 0
	}
	r.samples = [MaxSampleErrors]string{}
	r.nSamples = 0
	r.latency.Reset()
	r.service.Reset()
}

// cleanMessage cuts msg to MaxSampleErrorLen bytes on a rune boundary and
// repairs invalid UTF-8, which a protobuf string field cannot carry.
func cleanMessage(msg string) string {
	if len(msg) > MaxSampleErrorLen {
		cut := MaxSampleErrorLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return strings.ToValidUTF8(msg, "\uFFFD")
}

// cleanOutcome makes an outcome key storable: valid UTF-8 and not empty.
func cleanOutcome(k string) string {
	if k == "" {
		return "unknown"
	}
	return strings.ToValidUTF8(k, "\uFFFD")
}
