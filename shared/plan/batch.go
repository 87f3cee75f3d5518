package plan

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// batch checks target.batch.
func (c *checker) batch(t *Target) {
	if t.Batch < 0 || t.Batch > MaxBatch {
		c.add("target.batch", "must be 1..%d (texts per request), got %d", MaxBatch, t.Batch)
	}
}

// batchTemplate checks that a target with a batch has a template that
// carries every text of it (.Texts or .Records), as a preset's does.
func (c *checker) batchTemplate(t *Target, field string, refs tmplRefs) {
	if t.Batch <= 1 || t.Batch > MaxBatch || refs.batch() {
		return
	}
	c.add(field, "with target.batch %d the template must carry every text of the request: use .Texts (e.g. {{json .Texts}}) or .Records, or a preset", t.Batch)
}

// check checks target.check: a path that compiles, with exactly one [*]
// when a request carries a batch, an equals template, a known count_as.
func (c *checker) check(t *Target) {
	k := t.Check
	if k == nil {
		return
	}
	const at = "target.check"
	if k.Path == "" {
		c.add(at+".path", "required: where the prediction is in the response, e.g. predictions[*].label")
	} else if p, err := CompileCheckPath(k.Path); err != nil {
		c.add(at+".path", "%v", err)
	} else if b := t.BatchSize(); b > 1 && p.Instances() != 1 && t.Batch <= MaxBatch {
		c.add(at+".path", "with target.batch %d the path must hold exactly one [*] (the instance), %q holds %d", b, k.Path, p.Instances())
	} else if p.Instances() > 1 {
		c.add(at+".path", "at most one [*] (the instance), %q holds %d", k.Path, p.Instances())
	}
	if k.Equals == "" {
		c.add(at+".equals", `required: the expected prediction, a template such as "{{.Record.label}}"`)
	} else if _, _, err := renderSample(k.Equals, 1); err != nil {
		c.add(at+".equals", "%v", err)
	}
	switch k.CountAs {
	case "", CountAsError, CountAsMetric:
	default:
		c.add(at+".count_as", "must be %s or %s, got %q", CountAsError, CountAsMetric, k.CountAs)
	}
}

// protoset checks target.protoset: gRPC only, and a FileDescriptorSet.
func (c *checker) protoset(t *Target) {
	if t.Protoset == "" {
		return
	}
	if t.Protocol != ProtocolGRPC {
		c.add("target.protoset", "only for protocol grpc")
		return
	}
	if _, err := t.ProtosetFiles(); err != nil {
		c.add("target.protoset", "%v", err)
	}
}

// ProtosetFiles decodes target.protoset: standard base64 (spaces and line
// breaks ignored) of a serialized google.protobuf.FileDescriptorSet, as
// protoc --descriptor_set_out (with --include_imports) writes it. nil
// without a protoset.
func (t *Target) ProtosetFiles() (*descriptorpb.FileDescriptorSet, error) {
	if t.Protoset == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, t.Protoset))
	if err != nil {
		return nil, fmt.Errorf("not valid base64 (want the standard base64 of a FileDescriptorSet, as protoc --descriptor_set_out writes it): %w", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a serialized google.protobuf.FileDescriptorSet: %w", err)
	}
	if len(set.File) == 0 {
		return nil, errors.New("the FileDescriptorSet holds no file")
	}
	for i, f := range set.File {
		if f.GetName() == "" {
			return nil, fmt.Errorf("not a FileDescriptorSet: file %d has no name", i)
		}
	}
	return &set, nil
}

// ParseGCSURI splits gs://bucket/object into its bucket and object name,
// checking both against Cloud Storage's naming rules.
func ParseGCSURI(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", "", fmt.Errorf("want gs://bucket/object, got %q", uri)
	}
	bucket, object, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" {
		return "", "", fmt.Errorf("want gs://bucket/object (a bucket and an object name), got %q", uri)
	}
	if !validBucket(bucket) {
		return "", "", fmt.Errorf("invalid bucket name %q (3-222 characters: lowercase letters, digits, -, _ and .; starting and ending with a letter or digit)", bucket)
	}
	switch {
	case len(object) > 1024:
		return "", "", fmt.Errorf("object name longer than 1024 bytes")
	case !utf8.ValidString(object):
		return "", "", fmt.Errorf("object name %q is not valid UTF-8", object)
	case strings.ContainsFunc(object, unicode.IsControl):
		return "", "", fmt.Errorf("object name %q holds control characters", object)
	case object == "." || object == "..":
		return "", "", fmt.Errorf("invalid object name %q", object)
	}
	return bucket, object, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 222 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) == 0 || len(part) > 63 {
			return false
		}
	}
	return true
}
