package load

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// resolveMethod finds the request type of a gRPC method through the
// target's server reflection service, so that any unary method can be
// load-tested with a JSON request template, as with grpcurl.
func resolveMethod(ctx context.Context, address, method string, creds credentials.TransportCredentials) (protoreflect.MessageDescriptor, error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || svc == "" || name == "" {
		return nil, fmt.Errorf("method %q: want /package.Service/Method", method)
	}
	cc, err := grpc.NewClient(address, grpc.WithTransportCredentials(creds))
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
	d, err := reg.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", svc, name)
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, errors.New("streaming methods are not supported; only unary")
	}
	return md.Input(), nil
}

// reflectTimeout bounds the reflection lookup done before a run.
const reflectTimeout = 10 * time.Second
