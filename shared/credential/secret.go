package credential

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// EmulatorHostEnv names a Secret Manager stand-in (host:port, such as
// internal/devenv/secretmanager) that ReadSecret reads from instead of
// Secret Manager: plain gRPC, no credentials, like STORAGE_EMULATOR_HOST
// for the bucket. For tests and local runs only.
const EmulatorHostEnv = "CICADA_SECRETMANAGER_EMULATOR_HOST"

var (
	clientsMu sync.Mutex
	clients   = map[string]*secretmanager.Client{} // by emulator host, "" for Secret Manager
)

// secretClient returns the process's client for the current endpoint,
// opening it on first use: a worker reads secrets at each shard start,
// and one connection serves them all.
func secretClient() (*secretmanager.Client, error) {
	host := os.Getenv(EmulatorHostEnv)
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[host]; ok {
		return c, nil
	}
	var opts []option.ClientOption
	if host != "" {
		opts = append(opts,
			option.WithEndpoint(host),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithoutAuthentication(),
			option.WithTelemetryDisabled())
	}
	// The client outlives the shard that opened it, so not its context.
	c, err := secretmanager.NewClient(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("secret manager client: %w", err)
	}
	clients[host] = c
	return c, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ReadSecret reads a secret version, projects/P/secrets/S/versions/V, from
// Secret Manager with the process's own identity (which needs
// roles/secretmanager.secretAccessor on the secret), or from the stand-in
// named by EmulatorHostEnv. The error names the secret and says why
// (PermissionDenied, NotFound, ...); it never holds the value.
func ReadSecret(ctx context.Context, name string) ([]byte, error) {
	c, err := secretClient()
	if err != nil {
		return nil, err
	}
	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return nil, fmt.Errorf("read secret %s: %s: %s", name, st.Code(), st.Message())
		}
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	p := resp.GetPayload()
	if p.DataCrc32C != nil && int64(crc32.Checksum(p.GetData(), castagnoli)) != p.GetDataCrc32C() {
		return nil, fmt.Errorf("read secret %s: %w", name, errCorrupt)
	}
	return p.GetData(), nil
}

var errCorrupt = errors.New("the value does not match its checksum (corrupted on the way)")
