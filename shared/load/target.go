package load

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
)

// protocol opens connections to one target. Protocols know nothing of
// pacing: the engine decides when a request goes, a conn only sends it.
// What the engine asks of a protocol beyond sending (warming up before the
// start, whether the event loop can drive it) goes through this interface,
// once per run or per connection, never per request.
type protocol interface {
	// newConn returns a connection for one goroutine. For a shared
	// protocol, several goroutines may hold conns backed by one channel.
	newConn() conn
	// shared reports whether one conn serves many requests at once
	// (gRPC and HTTP/2 multiplex; HTTP/1.1 does not).
	shared() bool
	// warm waits until deadline at most for what the protocol's conns
	// share (gRPC's channels) to connect, so that the first requests do not
	// pay for it. What is not ready then keeps trying.
	warm(deadline time.Time)
	// eventLoop returns the target as ready HTTP/1.1 bytes over plain TCP,
	// which the event loop sends on its own sockets (see pacingGrid), or
	// nil when the protocol needs its own client.
	eventLoop() *plainHTTP
	close() error
}

// conn sends requests. It is used by one goroutine at a time, except for a
// shared protocol's conn, which the engine gives to several goroutines.
type conn interface {
	// do sends pre-built request i and waits for its answer until deadline.
	// It never panics and returns failures as outcomes.
	do(i int, deadline time.Time) result
	// warm opens the connection ahead of the start, until deadline at
	// most, so that the first request does not pay for a handshake. A
	// failure is left for the first request to retry and record. The
	// engine warms its conns concurrently, before any do.
	warm(deadline time.Time)
	closeConn()
}

// openProtocol renders the target's requests from the corpus, once,
// within g's limits (with a batch, one request per target.batch texts; with
// a check, the value each instance expects), reads the secrets of its TLS
// configuration through readSecret, and opens the protocol, whose every
// dial goes through g; auth, if any, goes with the gRPC reflection call
// (newProtocol attaches it to the requests).
func openProtocol(t *plan.Target, corpus *plan.Corpus, conns int, readSecret func(ctx context.Context, name string) ([]byte, error), g *policy.Guard, auth *credential.Header) (protocol, *requestSet, error) {
	r, err := t.RenderRequests(corpus, g.RenderLimits())
	if err != nil {
		return nil, nil, fmt.Errorf("render requests: %w", err)
	}
	reqs := &requestSet{n: r.NumRequests(), batch: r.Batch, first: r.First, chars: r.CorpusChars}
	check, err := newChecker(t.Check, r)
	if err != nil {
		return nil, nil, err
	}
	pr, err := dialProtocol(t, r.Bodies, check, conns, readSecret, g, auth)
	if err != nil {
		return nil, nil, err
	}
	return pr, reqs, nil
}

// dialProtocol opens the protocol of t sending bodies (one per request),
// checking answers with check when it is not nil.
func dialProtocol(t *plan.Target, bodies [][]byte, check *checker, conns int, readSecret func(ctx context.Context, name string) ([]byte, error), g *policy.Guard, auth *credential.Header) (protocol, error) {
	tlsConf, err := clientTLS(t, readSecret)
	if err != nil {
		return nil, err
	}
	switch t.Protocol {
	case plan.ProtocolHTTP:
		u, err := url.Parse(t.URL)
		if err != nil {
			return nil, fmt.Errorf("target.url: %w", err)
		}
		switch u.Scheme {
		case "http":
			h, err := newHTTP1(u, t.Method, t.Headers, bodies, t.ExpectStatus)
			if err != nil {
				return nil, err
			}
			h.guard, h.check = g, check
			return h, nil
		case "https":
			return newHTTPS(u, t, bodies, check, conns, tlsConf, g)
		}
		return nil, fmt.Errorf("target.url: scheme %q is not http or https", u.Scheme)
	case plan.ProtocolGRPC:
		method := t.Method
		if !strings.HasPrefix(method, "/") {
			method = "/" + method
		}
		deadline := time.Now().Add(reflectTimeout)
		if dl := g.Deadline(); !dl.IsZero() && dl.Before(deadline) {
			deadline = dl // the engine is prepared by then
		}
		ctx, cancel := context.WithDeadline(withAuthMetadata(context.Background(), auth), deadline)
		md, err := lookupMethod(ctx, t.Protoset, t.Address, method, grpcCreds(tlsConf), g)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("target.method %s: %w", method, err)
		}
		reqs, err := encodeRequests(md.Input(), bodies, g.RenderLimits().Check)
		if err != nil {
			return nil, err
		}
		if check != nil {
			check.out = md.Output()
		}
		g, err := newGRPC(t.Address, method, t.Headers, reqs, conns, t.Success, grpcCreds(tlsConf), g)
		if err != nil {
			return nil, err
		}
		g.check = check
		return g, nil
	}
	return nil, fmt.Errorf("target.protocol: unknown %q", t.Protocol)
}

// encodeRequests encodes each rendered request (protojson) as the binary
// message in, dropping the JSON as it goes so that a large corpus is not
// held twice. A message type compiled in (the presets') decodes about
// 1.5 times faster than a dynamic one. check, if set, is called every
// few thousand requests (the worker's memory budget).
func encodeRequests(in protoreflect.MessageDescriptor, bodies [][]byte, check func() error) ([][]byte, error) {
	newMsg := func() proto.Message { return dynamicpb.NewMessage(in) }
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(in.FullName()); err == nil && mt.Descriptor() == in {
		newMsg = func() proto.Message { return mt.New().Interface() }
	}
	reqs := make([][]byte, len(bodies))
	for i, b := range bodies {
		if check != nil && i%encodeCheckEvery == encodeCheckEvery-1 {
			if err := check(); err != nil {
				return nil, fmt.Errorf("encode the requests: %w", err)
			}
		}
		m := newMsg()
		if err := protojson.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("target.request for request %d: %w", i, err)
		}
		var err error
		if reqs[i], err = proto.Marshal(m); err != nil {
			return nil, fmt.Errorf("encode request %d: %w", i, err)
		}
		bodies[i] = nil
	}
	return reqs, nil
}

// encodeCheckEvery is how many requests are encoded between checks.
const encodeCheckEvery = 4096
