package predict

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stallWait is how long a request arriving at t waits for the stall to end:
// StallFor minus the phase of t in its StallEvery period (counted from the
// Unix epoch) when the phase is below StallFor, else 0.
func stallWait(t time.Time, every, stallFor time.Duration) time.Duration {
	if every <= 0 || stallFor <= 0 {
		return 0
	}
	phase := time.Duration(t.UnixNano() % int64(every))
	if phase < 0 { // before 1970
		phase += every
	}
	if phase < stallFor {
		return stallFor - phase
	}
	return 0
}

// applyKnobs holds a valid request for the stall (from its arrival), then
// the added latency and jitter, and decides whether to inject an error. A
// request whose context ends while held returns the context's error;
// shutdown releases held requests at once.
func (s *Server) applyKnobs(ctx context.Context, arrival time.Time) (fail bool, err error) {
	var wait time.Duration
	if sw := stallWait(arrival, s.cfg.StallEvery, s.cfg.StallFor); sw > 0 {
		s.stalled.Add(1)
		// Count from arrival so that time spent decoding is not added twice.
		wait = sw - s.now().Sub(arrival)
	}
	wait += s.cfg.Latency
	if s.cfg.Jitter > 0 {
		wait += rand.N(s.cfg.Jitter + 1)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
	if s.capacity != nil {
		// The servers come after the other delays, as a server's queue
		// comes after the network.
		if err := s.capacity.serve(ctx, time.Now(), s.stop); errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false, err
		}
	}
	if s.cfg.ErrorRatio > 0 && rand.Float64() < s.cfg.ErrorRatio {
		s.injected.Add(1)
		return true, nil
	}
	return false, nil
}

// errorWriter writes an error answer in a REST protocol's own form.
type errorWriter func(w http.ResponseWriter, code int, msg string)

// restKnobs applies the knobs to a valid REST request that arrived at
// arrival, for every REST route. It returns false after answering the
// request itself (injected error, or a client gone while held), true when
// the route goes on to answer.
func (s *Server) restKnobs(w http.ResponseWriter, r *http.Request, arrival time.Time, werr errorWriter) bool {
	if !s.knobs {
		return true
	}
	fail, err := s.applyKnobs(r.Context(), arrival)
	if err != nil {
		// The client is gone, so nobody reads this; it only keeps
		// net/http from sending an implicit empty 200.
		werr(w, http.StatusServiceUnavailable, "request cancelled: "+err.Error())
		return false
	}
	if fail {
		werr(w, http.StatusServiceUnavailable, "injected error (CICADA_PREDICT_ERROR_RATIO)")
		return false
	}
	return true
}

// grpcKnobs applies the knobs to a valid gRPC call that arrived at arrival,
// for every gRPC method: nil lets the call be answered, otherwise the
// status to return.
func (s *Server) grpcKnobs(ctx context.Context, arrival time.Time) error {
	if !s.knobs {
		return nil
	}
	fail, err := s.applyKnobs(ctx, arrival)
	if err != nil {
		return status.FromContextError(err).Err()
	}
	if fail {
		return status.Error(codes.Unavailable, "injected error (CICADA_PREDICT_ERROR_RATIO)")
	}
	return nil
}

// arrival returns the time a request arrived when a knob needs it.
func (s *Server) arrival() time.Time {
	if s.knobs {
		return s.now()
	}
	return time.Time{}
}
