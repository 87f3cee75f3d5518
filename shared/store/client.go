package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// EmulatorHostEnv is the variable that points the storage client at an
// emulator, "127.0.0.1:4443" or "http://127.0.0.1:4443".
const EmulatorHostEnv = "STORAGE_EMULATOR_HOST"

// NewClientFromEnv returns a storage client for fake-gcs-server when
// STORAGE_EMULATOR_HOST is set (plain HTTP unless the variable names a
// scheme, no credentials), and for Cloud Storage with Application Default
// Credentials otherwise. The caller closes it.
func NewClientFromEnv(ctx context.Context) (*storage.Client, error) {
	host := os.Getenv(EmulatorHostEnv)
	if host == "" {
		c, err := storage.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("storage client with default credentials: %w", err)
		}
		return c, nil
	}
	endpoint, err := emulatorEndpoint(host)
	if err != nil {
		return nil, err
	}
	// storage.NewClient reads the variable too; the explicit endpoint only
	// makes what is dialled independent of the library's guess. JSON reads:
	// fake-gcs-server serves XML API reads only on its -public-host, which
	// a server started by someone else may not have set to its address.
	c, err := storage.NewClient(ctx, option.WithEndpoint(endpoint), option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("storage client for emulator %s: %w", host, err)
	}
	return c, nil
}

// emulatorEndpoint turns STORAGE_EMULATOR_HOST into the JSON API endpoint.
func emulatorEndpoint(host string) (string, error) {
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s=%q: not a host:port or URL", EmulatorHostEnv, host)
	}
	u.Path = "/storage/v1/"
	return u.String(), nil
}

// EnsureBucket creates bucket in project unless it exists already. It is
// meant for emulators and local clusters: on Cloud Storage the bucket is
// Terraform's.
func EnsureBucket(ctx context.Context, client *storage.Client, project, bucket string) error {
	b := client.Bucket(bucket)
	_, err := b.Attrs(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("ensure bucket %s: %w", bucket, err)
	}
	err = b.Create(ctx, project, nil)
	var gerr *googleapi.Error
	if errors.As(err, &gerr) && gerr.Code == http.StatusConflict {
		return nil // created by someone else meanwhile
	}
	if err != nil {
		return fmt.Errorf("ensure bucket %s: create: %w", bucket, err)
	}
	return nil
}

// NewInProcess starts fakestorage, fake-gcs-server's in-process server,
// with bucket created and no TCP listener: the returned client reaches it
// through an in-memory transport. It returns the Store on bucket, the
// client (for code that needs the raw API), and a cleanup that closes the
// client and stops the server. Objects live in memory only.
func NewInProcess(bucket string) (*GCS, *storage.Client, func(), error) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Writer:     io.Discard, // its request log
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start in-process storage: %w", err)
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	client, err := storage.NewClient(context.Background(),
		option.WithHTTPClient(srv.HTTPClient()),
		option.WithoutAuthentication(),
		// Any endpoint will do: the transport is the server itself.
		option.WithEndpoint("http://fakestorage.local/storage/v1/"),
		// XML API reads are served only on the server's public host.
		storage.WithJSONReads(),
	)
	if err != nil {
		srv.Stop()
		return nil, nil, nil, fmt.Errorf("client of in-process storage: %w", err)
	}
	cleanup := func() {
		client.Close()
		srv.Stop()
	}
	return NewGCS(client, bucket), client, cleanup, nil
}
