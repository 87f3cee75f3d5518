package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	cicadav1 "github.com/cicadaload/cicada/proto/cicada/v1"
)

// TestProtosetFlag puts a descriptor set file inline into the plan, and
// names the flag when the file is not one.
func TestProtosetFlag(t *testing.T) {
	t.Parallel()
	fd := protodesc.ToFileDescriptorProto(cicadav1.File_cicada_v1_predict_proto)
	set, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fd}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "predict.pb"), filepath.Join(dir, "bad.pb")
	if err := os.WriteFile(good, set, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a descriptor set"), 0o600); err != nil {
		t.Fatal(err)
	}
	planPath := writePlan(t, `name: protoset
target:
  protocol: grpc
  address: 127.0.0.1:1
  method: /cicada.v1.Predictor/Predict
  request: '{"text": {{json .Text}}}'
data: {texts: [a]}
load: {model: open, stages: [{duration: 1s, rate: 1}]}
`)
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{"descriptor set", good, ""},
		{"not a descriptor set", bad, "--protoset " + bad},
		{"missing file", filepath.Join(dir, "none.pb"), "--protoset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := Main(context.Background(), []string{"validate", planPath, "--protoset", tt.file}, &out, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate --protoset %s: err = %v, want one naming %q", tt.file, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := loadPlan(planPath, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := base64.StdEncoding.DecodeString(p.Target.Protoset); !bytes.Equal(got, set) {
				t.Errorf("target.protoset holds %d bytes, want the file's %d", len(got), len(set))
			}
		})
	}
}
