// Package secretmanager is a Secret Manager stand-in for tests and local
// runs: the real gRPC service (google.cloud.secretmanager.v1), served in
// plain text on 127.0.0.1, answering AccessSecretVersion from secrets set
// in memory. Point a client at it with CICADA_SECRETMANAGER_EMULATOR_HOST
// (see shared/credential) or with the library's endpoint option.
package secretmanager

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"sync"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server serves AccessSecretVersion; every other method is unimplemented.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	// Addr is host:port of the listener.
	Addr string

	srv *grpc.Server

	mu       sync.Mutex
	values   map[string][]byte
	denied   map[string]bool
	accesses map[string]int
}

// Start serves on a free port of 127.0.0.1 until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("secret manager stand-in: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), srv: grpc.NewServer(), values: map[string][]byte{}, denied: map[string]bool{}, accesses: map[string]int{}}
	secretmanagerpb.RegisterSecretManagerServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Stop() }

// Set makes name (projects/P/secrets/S/versions/V, as the client asks for
// it) hold value.
func (s *Server) Set(name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[name] = value
}

// Deny answers PERMISSION_DENIED for name, as Secret Manager does when the
// caller lacks roles/secretmanager.secretAccessor on the secret.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = true
}

// Accesses is how many times name was asked for.
func (s *Server) Accesses(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accesses[name]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AccessSecretVersion returns the value set for the version, with its
// CRC32C as Secret Manager sends it.
func (s *Server) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	name := req.GetName()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accesses[name]++
	if s.denied[name] {
		// The wording of the real service, which does not tell a missing
		// secret from a forbidden one.
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", name)
	}
	v, ok := s.values[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	sum := int64(crc32.Checksum(v, castagnoli))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    name,
		Payload: &secretmanagerpb.SecretPayload{Data: append([]byte(nil), v...), DataCrc32C: &sum},
	}, nil
}
