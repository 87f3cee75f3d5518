package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cicadaload/cicada/shared/policy"
)

// grpcProto drives unary calls over a pool of grpc-go channels. Requests are
// encoded to protobuf bytes once, before the run, and a pass-through codec
// hands them to grpc-go as they are; answers are counted, not decoded. That
// leaves grpc-go's transport as the only per-call cost.
type grpcProto struct {
	method string
	reqs   [][]byte
	md     metadata.MD
	authMD atomic.Pointer[metadata.MD] // once a credential is attached, replaces md (see metadata)
	conns  []*grpc.ClientConn
	next   atomic.Uint32
	check  *checker   // nil: answers are counted, never decoded
	keys   [17]string // "grpc:OK" ... indexed by code
	ok     [17]bool   // the plan's success rule, indexed by code
	// refused is the last dial the guard refused: a call that fails
	// UNAVAILABLE meanwhile is recorded as error:refused with its reason.
	refused atomic.Pointer[error]
}

// newGRPC opens the channels with creds (TLS or plaintext, see grpcCreds),
// each dial through guard; method is the full method name with its leading
// slash, as newProtocol normalizes it.
func newGRPC(address, method string, headers map[string]string, reqs [][]byte, channels int, success func(outcome string) bool, creds credentials.TransportCredentials, guard *policy.Guard) (*grpcProto, error) {
	g := &grpcProto{method: method, reqs: reqs}
	for c, name := range grpcCodeNames {
		g.keys[c] = "grpc:" + name
		g.ok[c] = success(g.keys[c])
	}
	if len(headers) > 0 {
		g.md = metadata.New(headers)
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := guard.Dial(ctx, &d, "tcp", addr)
		if errors.Is(err, policy.ErrRefused) {
			g.refused.Store(&err)
		}
		if err != nil {
			return nil, err
		}
		g.refused.Store(nil)
		return wrapRaw(c), nil
	}
	for range channels {
		cc, err := grpc.NewClient(grpcTarget(address, guard),
			grpc.WithTransportCredentials(creds),
			grpc.WithContextDialer(dial),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})),
			// Separate channels must not share one TCP connection.
			grpc.WithDisableServiceConfig(),
		)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("grpc channel to %s: %w", address, err)
		}
		cc.Connect()
		g.conns = append(g.conns, cc)
	}
	return g, nil
}

// grpcTarget is the target of a channel to address: with a guard, grpc-go
// passes the name as written to the dialer (passthrough), which resolves
// it once and checks the address it dials; grpc-go's own resolver would
// hand it addresses looked up without the guard's resolver.
func grpcTarget(address string, guard *policy.Guard) string {
	if guard == nil {
		return address
	}
	return "passthrough:///" + address
}

// grpcCodeNames are the canonical status code names of the gRPC spec
// (grpc-go's String() spells them in CamelCase).
var grpcCodeNames = [17]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// warm waits until every channel is connected, or the deadline. A channel
// that is not ready then keeps trying; its calls fail meanwhile.
func (g *grpcProto) warm(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, cc := range g.conns {
		for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
			if !cc.WaitForStateChange(ctx, s) {
				return
			}
		}
	}
}

func (g *grpcProto) shared() bool { return true }

func (g *grpcProto) eventLoop() *plainHTTP { return nil }

func (g *grpcProto) close() error {
	for _, c := range g.conns {
		c.Close()
	}
	return nil
}

// newConn hands out channels round robin; many goroutines share each one,
// as HTTP/2 multiplexes calls.
func (g *grpcProto) newConn() conn {
	i := g.next.Add(1) - 1
	return &grpcConn{g: g, cc: g.conns[int(i)%len(g.conns)]}
}

// grpcConn is shared: the engine gives one to several slots at once (see
// protocol.shared), so do keeps no per-call state in it.
type grpcConn struct {
	g  *grpcProto
	cc *grpc.ClientConn
}

func (c *grpcConn) closeConn() {}

// warm has nothing of its own to open: the protocol warms the channels.
func (c *grpcConn) warm(time.Time) {}

func (c *grpcConn) do(i int, deadline time.Time) result {
	// One allocation for both messages; grpc-go keeps pointers to them.
	msgs := &[2]rawMsg{{b: c.g.reqs[i%len(c.g.reqs)]}, {keep: c.g.check != nil}}
	req, resp := &msgs[0], &msgs[1]
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	if md := c.g.metadata(); md != nil {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	err := c.cc.Invoke(ctx, c.g.method, req, resp)
	cancel()
	// Bytes are the messages' own; HTTP/2 framing is not counted.
	r := result{sent: int64(len(req.b)), recv: int64(resp.n)}
	if err == nil {
		r.outcome, r.ok = c.g.keys[codes.OK], c.g.ok[codes.OK]
		if ch := c.g.check; ch != nil && r.ok {
			ch.apply(&r, ch.checkProto(i%len(c.g.reqs), resp.b))
		}
		return r
	}
	st, _ := status.FromError(err)
	code := st.Code()
	if code > 16 {
		code = codes.Unknown
	}
	if code == codes.Unavailable {
		if rf := c.g.refused.Load(); rf != nil {
			r.outcome, r.err = outcomeRefused, *rf
			return r
		}
	}
	r.outcome, r.ok, r.err = c.g.keys[code], c.g.ok[code], err
	if code == codes.DeadlineExceeded {
		r.outcome = outcomeTimeout
	}
	return r
}

// rawMsg carries pre-encoded protobuf bytes through rawCodec. An answer's
// bytes are only counted, unless keep asks for them (a check decodes them).
type rawMsg struct {
	b    []byte
	n    int
	keep bool
}

// rawCodec passes request bytes through and only measures responses.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMsg)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	m.n = data.Len()
	if m.keep {
		m.b = data.Materialize() // a copy: grpc-go reuses data's buffers
	}
	return nil
}
