package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/pipeline"
)

// TestCorpusPut places two versions of a corpus in cicada local's bucket:
// each put names its generation, and the first stays readable after the
// second (the bucket keeps a corpus's generations); bad arguments are
// usage errors.
func TestCorpusPut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bucket := filepath.Join(dir, "bucket")
	uri := "gs://" + pipeline.EmbeddedBucket + "/corpora/eval.txt"
	genRe := regexp.MustCompile(`^wrote ` + regexp.QuoteMeta(uri) + ` generation (\d+) \((\d+) bytes\)\n$`)
	var gens []int64
	for _, content := range []string{"first\n", "second version\n"} {
		file := filepath.Join(dir, "corpus.txt")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := runMain(context.Background(), []string{"corpus", "put", file, uri, "--bucket", bucket}, &out, io.Discard); err != nil {
			t.Fatalf("corpus put: %v", err)
		}
		m := genRe.FindStringSubmatch(out.String())
		if m == nil || m[2] != strconv.Itoa(len(content)) {
			t.Fatalf("corpus put said %q, want %s", out.String(), genRe)
		}
		gen, _ := strconv.ParseInt(m[1], 10, 64)
		gens = append(gens, gen)
	}
	d, err := pipeline.OpenEmbeddedBucket(bucket)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"first\n", "second version\n"} {
		r, err := d.OpenGeneration(context.Background(), "corpora/eval.txt", gens[i])
		if err != nil {
			t.Fatalf("generation %d: %v", gens[i], err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if string(got) != want {
			t.Errorf("generation %d = %q, want %q", gens[i], got, want)
		}
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"corpus"}, "want put FILE"},
		{[]string{"corpus", "get", "x", uri}, "want put FILE"},
		{[]string{"corpus", "put", "x"}, "got 1 arguments"},
		{[]string{"corpus", "put", "x", "/tmp/y"}, "gs://bucket/object"},
	} {
		err := runMain(context.Background(), tt.args, io.Discard, io.Discard)
		if Code(err) != ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v (exit %d), want a usage error saying %q", tt.args, err, Code(err), tt.want)
		}
	}
}
