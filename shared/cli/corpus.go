package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cicadaload/cicada/shared/pipeline"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/store"
)

// corpusCmd places a corpus file where a plan's data.uri names it:
// `cicada corpus put FILE gs://BUCKET/OBJECT`. gs://cicada-local/... is the
// bucket of cicada local (its --bucket directory); any other bucket is
// Cloud Storage (Application Default Credentials), or fake-gcs-server with
// STORAGE_EMULATOR_HOST.
func corpusCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("corpus put", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bucketDir := fs.String("bucket", filepath.Join(".cicada", "bucket"), "directory of cicada local's bucket, gs://"+pipeline.EmbeddedBucket+"/")
	if len(args) == 0 || args[0] != "put" {
		return usageErr("corpus: want put FILE gs://BUCKET/OBJECT")
	}
	pos, err := parseMany(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("corpus put: want FILE gs://BUCKET/OBJECT, got %d arguments", len(pos))
	}
	path, uri := pos[0], pos[1]
	bucket, object, err := plan.ParseGCSURI(uri)
	if err != nil {
		return usageErr("corpus put: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var gen, size int64
	if bucket == pipeline.EmbeddedBucket {
		d, err := pipeline.OpenEmbeddedBucket(*bucketDir)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if gen, err = d.Put(ctx, object, data, "text/plain"); err != nil {
			return err
		}
		size = int64(len(data))
	} else {
		client, err := store.NewClientFromEnv(ctx)
		if err != nil {
			return err
		}
		defer client.Close()
		w := client.Bucket(bucket).Object(object).NewWriter(ctx)
		w.ContentType = "text/plain"
		if size, err = io.Copy(w, f); err != nil {
			_ = w.Close()
			return fmt.Errorf("upload %s to %s: %w", path, uri, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("upload %s to %s: %w", path, uri, err)
		}
		gen = w.Attrs().Generation
	}
	fmt.Fprintf(stdout, "wrote %s generation %d (%d bytes)\n", uri, gen, size)
	return nil
}

// corpusPutter places a local corpus file in the bucket the pipeline
// reads and returns its gs:// URI.
type corpusPutter func(ctx context.Context, path string) (string, error)

// maxLocalCorpus bounds what cicada local copies into its bucket: the
// trigger's default corpus limit.
const maxLocalCorpus = 256 << 20

// putCorpus is the corpusPutter of cicada local's bucket: the file goes to
// corpora/<sha256 of its bytes>.<ext>, so that the same file is stored
// once and a changed file is a new object.
func putCorpus(st store.Store) corpusPutter {
	return func(ctx context.Context, path string) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxLocalCorpus+1))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		if len(data) > maxLocalCorpus {
			return "", fmt.Errorf("%s: larger than %d MiB", path, maxLocalCorpus>>20)
		}
		sum := sha256.Sum256(data)
		object := "corpora/" + hex.EncodeToString(sum[:8]) + filepath.Ext(path)
		if _, err := st.Create(ctx, object, data, "application/x-ndjson"); err != nil && !errors.Is(err, store.ErrExists) {
			return "", fmt.Errorf("store %s as %s: %w", path, object, err)
		}
		return "gs://" + pipeline.EmbeddedBucket + "/" + object, nil
	}
}
