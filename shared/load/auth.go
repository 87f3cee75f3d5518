package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/cicadaload/cicada/shared/credential"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
)

// A target.auth credential reaches the requests without costing a request
// anything: each protocol subscribes to the credential's new values and,
// for each, builds what it sends with the value in it (the event loop's
// serialized requests, net/http's header map, gRPC's metadata) on the
// credential's goroutine, then swaps it in with one atomic store. A sender
// loads that pointer once per request (the event loop once per tick), so
// no request waits for a refresh, and the credential is replaced before it
// expires, so none goes out with an expired one.

// newProtocol opens the target's protocol and, when the plan has
// target.auth, makes every request carry auth.
func newProtocol(t *plan.Target, corpus *plan.Corpus, conns int, readSecret func(ctx context.Context, name string) ([]byte, error), g *policy.Guard, auth *credential.Header) (protocol, *requestSet, error) {
	if t.Credential() != nil && auth == nil {
		return nil, nil, errors.New("target.auth: no credential given to the engine (credential.Open)")
	}
	pr, reqs, err := openProtocol(t, corpus, conns, readSecret, g, auth)
	if err != nil {
		return pr, reqs, err
	}
	if auth == nil {
		if h, ok := pr.(*http1); ok {
			// Serialized once and for all: the bodies are in h.reqs.
			h.bodies = nil
		}
		return pr, reqs, nil
	}
	if err := authorize(pr, t, auth); err != nil {
		pr.close()
		return nil, nil, fmt.Errorf("target.auth: %w", err)
	}
	if h, ok := pr.(*http1); ok {
		// Subscribe serialized them with the credential: the requests
		// without it are never sent (the bodies stay, for the next value).
		h.reqs = nil
	}
	return pr, reqs, nil
}

// authorize subscribes pr to auth's values.
func authorize(pr protocol, t *plan.Target, auth *credential.Header) error {
	name := auth.Name()
	if !validHeaderName(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	for k := range t.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Errorf("header %q is also in target.headers", k)
		}
	}
	switch p := pr.(type) {
	case *http1:
		auth.Subscribe(func(v string) {
			reqs := p.serialize(name + ": " + v + "\r\n")
			p.authReqs.Store(&reqs)
		})
	case *httpStd:
		auth.Subscribe(func(v string) {
			h := p.headers.Clone()
			h.Set(name, v)
			p.authHeaders.Store(&h)
		})
	case *grpcProto:
		key := strings.ToLower(name)
		auth.Subscribe(func(v string) {
			md := p.md.Copy() // a nil MD copies to an empty one
			md.Set(key, v)
			p.authMD.Store(&md)
		})
	default:
		return fmt.Errorf("protocol %T cannot carry a credential", pr)
	}
	return nil
}

// requests returns the serialized requests to send now.
func (h *plainHTTP) requests() [][]byte {
	if r := h.authReqs.Load(); r != nil {
		return *r
	}
	return h.reqs
}

// header returns the request headers to send now. net/http only reads
// them, so every request shares one map.
func (h *httpStd) header() http.Header {
	if a := h.authHeaders.Load(); a != nil {
		return *a
	}
	return h.headers
}

// metadata returns the call metadata to send now, nil for none.
func (g *grpcProto) metadata() metadata.MD {
	if a := g.authMD.Load(); a != nil {
		return *a
	}
	return g.md
}

// withAuthMetadata adds auth's current value to ctx's outgoing metadata,
// for calls made before the run (server reflection).
func withAuthMetadata(ctx context.Context, auth *credential.Header) context.Context {
	if auth == nil {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, strings.ToLower(auth.Name()), auth.Value())
}
