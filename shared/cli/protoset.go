package cli

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"

	"github.com/cicadaload/cicada/shared/plan"
)

// maxProtoset bounds a --protoset file: a descriptor set with every import
// of a large API is a few MiB; the plan carries it inline.
const maxProtoset = 8 << 20

// protosetFlag adds --protoset to fs.
func protosetFlag(fs *flag.FlagSet) *string {
	return fs.String("protoset", "", "a FileDescriptorSet `FILE` (protoc --include_imports --descriptor_set_out) for a gRPC target without server reflection; sent inline as target.protoset")
}

// inlineProtoset puts the descriptor set file into p's target.protoset and
// validates the plan again, so that a bad file is named as the plan's
// problem.
func inlineProtoset(p *plan.Plan, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--protoset: %w", err)
	}
	if st.Size() > maxProtoset {
		return fmt.Errorf("--protoset %s: %d bytes, more than %d", path, st.Size(), maxProtoset)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--protoset: %w", err)
	}
	p.Target.Protoset = base64.StdEncoding.EncodeToString(b)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("--protoset %s: %w", path, err)
	}
	return nil
}
