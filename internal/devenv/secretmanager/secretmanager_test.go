package secretmanager

import (
	"context"
	"hash/crc32"
	"testing"

	sm "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestServedToTheRealClient checks the stand-in against the library's own
// client, pointed at it by the endpoint option.
func TestServedToTheRealClient(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	const (
		ok     = "projects/p/secrets/api-key/versions/1"
		denied = "projects/p/secrets/other/versions/latest"
	)
	s.Set(ok, []byte("k3y"))
	s.Deny(denied)

	ctx := context.Background()
	c, err := sm.NewClient(ctx,
		option.WithEndpoint(s.Addr),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, tt := range []struct {
		name string
		want string
		code codes.Code
	}{
		{ok, "k3y", codes.OK},
		{denied, "", codes.PermissionDenied},
		{"projects/p/secrets/missing/versions/1", "", codes.NotFound},
	} {
		resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: tt.name})
		if code := status.Code(err); code != tt.code {
			t.Errorf("%s: code %v (%v), want %v", tt.name, code, err, tt.code)
			continue
		}
		if err != nil {
			continue
		}
		data := resp.GetPayload().GetData()
		if string(data) != tt.want {
			t.Errorf("%s: value %q, want %q", tt.name, data, tt.want)
		}
		if got, want := resp.GetPayload().GetDataCrc32C(), int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))); got != want {
			t.Errorf("%s: crc32c %d, want %d", tt.name, got, want)
		}
	}
	if n := s.Accesses(denied); n != 1 {
		t.Errorf("denied secret asked for %d times, want 1 (PERMISSION_DENIED is not retried)", n)
	}
}
