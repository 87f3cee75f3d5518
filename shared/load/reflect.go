package load

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cicadaload/cicada/shared/policy"
)

// resolveMethod finds a gRPC method (its request and response types)
// through the target's server reflection service, so that any unary method
// can be load-tested with a JSON request template, as with grpcurl.
func resolveMethod(ctx context.Context, address, method string, creds credentials.TransportCredentials, guard *policy.Guard) (protoreflect.MethodDescriptor, error) {
	svc, name, err := splitMethod(method)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return guard.Dial(ctx, &d, "tcp", addr)
	}
	cc, err := grpc.NewClient(grpcTarget(address, guard), grpc.WithTransportCredentials(creds), grpc.WithContextDialer(dial))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	stream, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("server reflection at %s: %w", address, err)
	}
	defer stream.CloseSend()

	files := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *rpb.ServerReflectionRequest) error {
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return fmt.Errorf("%s (code %d)", e.GetErrorMessage(), e.GetErrorCode())
		}
		for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(b, fd); err != nil {
				return fmt.Errorf("decode file descriptor: %w", err)
			}
			files[fd.GetName()] = fd
		}
		return nil
	}
	if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc}}); err != nil {
		return nil, fmt.Errorf("server reflection at %s: service %s: %w", address, svc, err)
	}
	// Fetch dependencies the server did not send along, a bounded number
	// of times so that a misbehaving server cannot loop us.
	for range 100 {
		missing := ""
		for _, fd := range files {
			for _, dep := range fd.GetDependency() {
				if files[dep] == nil {
					missing = dep
				}
			}
		}
		if missing == "" {
			break
		}
		if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: missing}}); err != nil {
			return nil, fmt.Errorf("server reflection at %s: file %s: %w", address, missing, err)
		}
		if files[missing] == nil {
			return nil, fmt.Errorf("server reflection at %s: file %s not sent", address, missing)
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range files {
		set.File = append(set.File, fd)
	}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptors from %s: %w", address, err)
	}
	return findMethod(reg, "server reflection at "+address, svc, name)
}

// reflectTimeout bounds the reflection lookup done before a run.
const reflectTimeout = 10 * time.Second
