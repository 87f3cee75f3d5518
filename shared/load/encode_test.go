package load

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// TestEncodeRequests encodes rendered preset requests as the gRPC engine
// does: with the compiled message types for the built-in services (the
// same descriptors), and a protoset's dynamic type otherwise, each giving
// the message the JSON says; the JSON is dropped as it is encoded, and a
// failing check stops the encoding with its error.
func TestEncodeRequests(t *testing.T) {
	t.Parallel()
	methods := []string{
		"inference.GRPCInferenceService/ModelInfer",
		"tensorflow.serving.PredictionService/Predict",
		"google.cloud.aiplatform.v1.PredictionService/Predict",
	}
	for _, method := range methods {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			svc, name, err := splitMethod(method)
			if err != nil {
				t.Fatal(err)
			}
			md, ok, err := builtinMethod(svc, name)
			if !ok || err != nil {
				t.Fatalf("builtinMethod(%s) = %v, %v", method, ok, err)
			}
			if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName()); err != nil || mt.Descriptor() != md.Input() {
				t.Errorf("%s: no compiled type with the built-in descriptor (%v): encoded dynamically", md.Input().FullName(), err)
			}
			bodies := [][]byte{[]byte(`{}`), []byte(`{}`)}
			reqs, err := encodeRequests(md.Input(), bodies, nil)
			if err != nil || len(reqs) != 2 || bodies[0] != nil || bodies[1] != nil {
				t.Fatalf("encodeRequests = %d requests, %v; bodies left %q", len(reqs), err, bodies)
			}
			stop := errors.New("over budget")
			many := make([][]byte, encodeCheckEvery)
			for i := range many {
				many[i] = []byte(`{}`)
			}
			if _, err := encodeRequests(md.Input(), many, func() error { return stop }); !errors.Is(err, stop) {
				t.Errorf("encodeRequests with a failing check = %v, want its error", err)
			}
		})
	}
	// The compiled encoding decodes, as a dynamic message, to what the
	// JSON says.
	svc, name, _ := splitMethod(methods[2])
	md, _, _ := builtinMethod(svc, name)
	js := []byte(`{"endpoint": "projects/p/locations/l/endpoints/e", "instances": ["a", {"text": "b"}]}`)
	compiled, err := encodeRequests(md.Input(), [][]byte{bytes.Clone(js)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicpb.NewMessage(md.Input())
	if err := protojson.Unmarshal(js, dyn); err != nil {
		t.Fatal(err)
	}
	back := dynamicpb.NewMessage(md.Input())
	if err := proto.Unmarshal(compiled[0], back); err != nil || !proto.Equal(back, dyn) {
		t.Errorf("compiled encoding decodes to %v (%v), want %v", back, err, dyn)
	}
}
