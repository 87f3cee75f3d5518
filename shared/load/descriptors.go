package load

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	tfsapis "github.com/cicadaload/cicada/proto/tensorflow_serving/apis"
	"github.com/cicadaload/cicada/shared/policy"
)

// A gRPC method's request and response types come from, in this order:
// the plan's target.protoset, the services cicada knows (builtinServices:
// those the presets call), and the target's server reflection. Triton has
// no reflection and TF Serving gained it late, so the first two let cicada
// call them; the protoset does the same for any other service, and wins
// over a built-in service so that a plan can bring its own revision of it.

// builtinServices are the services whose descriptors are compiled into
// cicada. Only these: a service linked in for another reason (reflection,
// health) is not a statement about the target.
var builtinServices = []protoreflect.ServiceDescriptor{
	cicadav1.File_cicada_v1_predict_proto.Services().ByName("Predictor"),
	// oip_v2: the Open Inference Protocol (KServe V2, Triton).
	inferencev2.File_inference_v2_grpc_predict_v2_proto.Services().ByName("GRPCInferenceService"),
	// tfserving.
	tfsapis.File_tensorflow_serving_apis_prediction_service_proto.Services().ByName("PredictionService"),
	// vertex: the official generated types.
	aiplatformpb.File_google_cloud_aiplatform_v1_prediction_service_proto.Services().ByName("PredictionService"),
}

// splitMethod parses "/package.Service/Method" (leading slash optional).
func splitMethod(method string) (svc, name string, err error) {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("method %q: want /package.Service/Method", method)
	}
	return svc, name, nil
}

// descriptorFinder is what findMethod looks a service up in: a
// protoregistry.Files.
type descriptorFinder interface {
	FindDescriptorByName(protoreflect.FullName) (protoreflect.Descriptor, error)
}

// findMethod finds method name of service svc in files; from names the
// source in errors.
func findMethod(files descriptorFinder, from, svc, name string) (protoreflect.MethodDescriptor, error) {
	d, err := files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("%s has no service %s", from, svc)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s: %s is not a service", from, svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("%s: service %s has no method %s", from, svc, name)
	}
	return unary(md)
}

// unary returns md if it is a unary method.
func unary(md protoreflect.MethodDescriptor) (protoreflect.MethodDescriptor, error) {
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, fmt.Errorf("%s: streaming methods are not supported; only unary", md.FullName())
	}
	return md, nil
}

// builtinMethod returns the method if its service is one of
// builtinServices, and false otherwise.
func builtinMethod(svc, name string) (protoreflect.MethodDescriptor, bool, error) {
	for _, sd := range builtinServices {
		if string(sd.FullName()) != svc {
			continue
		}
		md := sd.Methods().ByName(protoreflect.Name(name))
		if md == nil {
			return nil, true, fmt.Errorf("built-in service %s has no method %s", svc, name)
		}
		md, err := unary(md)
		return md, true, err
	}
	return nil, false, nil
}

// protosetMethod resolves method from b64, the base64 of a serialized
// google.protobuf.FileDescriptorSet (protoc --descriptor_set_out
// --include_imports, buf build -o). Errors name target.protoset.
func protosetMethod(b64, svc, name string) (protoreflect.MethodDescriptor, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("target.protoset: not base64: %w", err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		return nil, fmt.Errorf("target.protoset: not a FileDescriptorSet: %w", err)
	}
	addWellKnown(set)
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("target.protoset: %w", err)
	}
	md, err := findMethod(files, "target.protoset", svc, name)
	if err != nil {
		var have []string
		files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				have = append(have, string(fd.Services().Get(i).FullName()))
			}
			return true
		})
		slices.Sort(have)
		return nil, fmt.Errorf("%w (its services: %s)", err, orNone(have))
	}
	return md, nil
}

// addWellKnown adds the well-known types' files (google/protobuf/*.proto)
// that set imports but leaves out: a set written without
// --include_imports still resolves when that is all it lacks. Any other
// missing import is an error: cicada's copy of it need not be the one the
// set was built with.
func addWellKnown(set *descriptorpb.FileDescriptorSet) {
	have := map[string]bool{}
	for _, f := range set.GetFile() {
		have[f.GetName()] = true
	}
	for i := 0; i < len(set.File); i++ { // grows as files are added
		for _, dep := range set.File[i].GetDependency() {
			if have[dep] || !strings.HasPrefix(dep, "google/protobuf/") {
				continue
			}
			fd, err := protoregistry.GlobalFiles.FindFileByPath(dep)
			if err != nil {
				continue // NewFiles names it
			}
			have[dep] = true
			set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
		}
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// lookupMethod resolves method (its leading slash optional) for target t:
// protoset, then builtinServices, then server reflection at address with
// ctx (its deadline and metadata), creds and guard.
func lookupMethod(ctx context.Context, protoset, address, method string, creds credentials.TransportCredentials, guard *policy.Guard) (protoreflect.MethodDescriptor, error) {
	svc, name, err := splitMethod(method)
	if err != nil {
		return nil, err
	}
	if protoset != "" {
		return protosetMethod(protoset, svc, name)
	}
	if md, ok, err := builtinMethod(svc, name); ok {
		return md, err
	}
	md, err := resolveMethod(ctx, address, method, creds, guard)
	if err != nil {
		return nil, fmt.Errorf("%w (a server without reflection needs target.protoset)", err)
	}
	return md, nil
}
