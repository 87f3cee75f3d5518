package predict

import (
	"context"
	"fmt"
	"net"
)

// Listen opens the listeners cfg asks for; an empty address leaves that
// protocol's listener nil. On error nothing stays open.
func Listen(ctx context.Context, cfg Config) (httpLn, grpcLn net.Listener, err error) {
	var lc net.ListenConfig
	if cfg.HTTPAddr != "" {
		if httpLn, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
			return nil, nil, fmt.Errorf("listen http on %s: %w", cfg.HTTPAddr, err)
		}
	}
	if cfg.GRPCAddr != "" {
		if grpcLn, err = lc.Listen(ctx, "tcp", cfg.GRPCAddr); err != nil {
			if httpLn != nil {
				httpLn.Close()
			}
			return nil, nil, fmt.Errorf("listen grpc on %s: %w", cfg.GRPCAddr, err)
		}
	}
	return httpLn, grpcLn, nil
}

// Addr returns ln's address, or "" for a nil listener.
func Addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
