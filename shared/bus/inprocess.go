package bus

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2/pstest"
)

// NewInProcess starts an in-process Pub/Sub server (pstest) on 127.0.0.1,
// connects a PubSub to it and runs Setup; the bus owns the topology
// (SetupOnNotFound). The cleanup closes both; it is never nil, so that a
// caller may defer it before checking the error.
//
// pstest ignores retry backoff (a nacked message comes back at once) and
// drops messages nobody pulled for 10 minutes.
func NewInProcess(ctx context.Context) (*PubSub, func(), error) {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	p, err := NewPubSub(ctx, LocalProject, EmulatorOptions(srv.Addr)...)
	if err != nil {
		srv.Close()
		return nil, func() {}, fmt.Errorf("in-process pubsub: %w", err)
	}
	cleanup := func() {
		_ = p.Close()
		_ = srv.Close()
	}
	if err := Setup(ctx, p); err != nil {
		cleanup()
		return nil, func() {}, fmt.Errorf("in-process pubsub: %w", err)
	}
	p.SetupOnNotFound()
	return p, cleanup, nil
}
