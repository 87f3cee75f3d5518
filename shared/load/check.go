package load

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cicadaload/cicada/shared/plan"
)

// Outcomes of a request whose status was a success but whose predictions
// were not what target.check expects.
const (
	outcomeCheckMismatch = "check:mismatch" // an instance's value differs from the expected one
	outcomeCheckMissing  = "check:missing"  // the path leads nowhere, or the answer could not be read
)

// maxCheckBody bounds the response body kept for a check: a larger one is
// check:missing, never read whole into memory.
const maxCheckBody = 4 << 20

// retainCheckBody is the largest body buffer a connection keeps between
// requests; a larger one is let go after its check, so that a few large
// answers do not pin maxCheckBody per connection.
const retainCheckBody = 64 << 10

// errBodyTooLarge is the sample error of an answer over maxCheckBody.
var errBodyTooLarge = fmt.Errorf("check: response body over %d MiB, not checked", maxCheckBody>>20)

// checker evaluates target.check on the answers to a target's requests.
// Only a target with a check has one: without it the clients neither keep
// nor decode a body, and a request costs what it did before checks.
type checker struct {
	path   *plan.CheckPath
	expect [][]string                     // expect[i][j]: instance j of request i
	metric bool                           // count_as: metric: a wrong answer is not an error
	out    protoreflect.MessageDescriptor // gRPC: the response type
}

// newChecker compiles target.check c for the rendered requests r; nil
// without a check.
func newChecker(c *plan.Check, r *plan.Rendered) (*checker, error) {
	if c == nil {
		return nil, nil
	}
	path, err := plan.CompileCheckPath(c.Path)
	if err != nil {
		return nil, fmt.Errorf("target.check.path: %w", err)
	}
	if len(r.Expect) != r.NumRequests() {
		return nil, fmt.Errorf("target.check: %d expected values for %d requests", len(r.Expect), r.NumRequests())
	}
	return &checker{path: path, expect: r.Expect, metric: !c.CountsAsError()}, nil
}

// checkVerdict is what a check found in one answer.
type checkVerdict struct {
	checked, correct int32
	outcome          string // "" when every instance matched
	err              error  // the first wrong instance, for the sample errors
}

// apply folds v into r, a successful request's result: a wrong answer
// becomes its outcome and an error, unless the check counts as a metric.
func (c *checker) apply(r *result, v checkVerdict) {
	r.checked, r.correct = v.checked, v.correct
	if v.outcome == "" || c.metric {
		return
	}
	r.outcome, r.ok, r.err = v.outcome, false, v.err
}

// checkJSON checks a JSON answer to request i.
func (c *checker) checkJSON(i int, body []byte, over bool) checkVerdict {
	if over {
		return c.unreadable(i, errBodyTooLarge)
	}
	root, err := decodeJSON(body)
	if err != nil {
		return c.unreadable(i, fmt.Errorf("check: response is not JSON: %w", err))
	}
	return c.checkTree(i, root)
}

// checkProto checks a protobuf answer (bytes of c.out) to request i.
func (c *checker) checkProto(i int, b []byte) checkVerdict {
	m := dynamicpb.NewMessage(c.out)
	if err := proto.Unmarshal(b, m); err != nil {
		return c.unreadable(i, fmt.Errorf("check: response is not a %s: %w", c.out.FullName(), err))
	}
	return c.checkTree(i, protoTree(m))
}

// unreadable is the checkVerdict on an answer that could not be read: every
// instance is checked, none matched.
func (c *checker) unreadable(i int, err error) checkVerdict {
	return checkVerdict{checked: int32(len(c.expect[i])), outcome: outcomeCheckMissing, err: err}
}

// checkTree compares each instance of request i with its expected value.
// A missing value outweighs a wrong one in the outcome; the sample error is
// the first instance at fault.
func (c *checker) checkTree(i int, root any) checkVerdict {
	want := c.expect[i]
	v := checkVerdict{checked: int32(len(want))}
	for j, w := range want {
		got, ok := c.path.Eval(root, j)
		if !ok {
			if v.outcome != outcomeCheckMissing {
				v.outcome = outcomeCheckMissing
				v.err = &checkError{path: c.path.String(), instance: j, want: w, missing: true}
			}
			continue
		}
		s, ok := plan.CheckString(got)
		if ok && s == w {
			v.correct++
			continue
		}
		if v.outcome == "" {
			v.outcome = outcomeCheckMismatch
			v.err = &checkError{path: c.path.String(), instance: j, want: w, got: got}
		}
	}
	return v
}

// checkError is a wrong or missing prediction, rendered only when the
// sample errors keep it.
type checkError struct {
	path     string
	instance int
	want     string
	got      any
	missing  bool
}

func (e *checkError) Error() string {
	path := strings.Replace(e.path, "[*]", "["+strconv.Itoa(e.instance)+"]", 1)
	if e.missing {
		return fmt.Sprintf("check %s: want %q, missing from the response", path, e.want)
	}
	return fmt.Sprintf("check %s: want %q, got %s", path, e.want, shortJSON(e.got))
}

// shortJSON renders v for a message: strings quoted, objects and arrays as
// JSON cut to 80 bytes.
func shortJSON(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// decodeJSON decodes a response body into a generic tree. Numbers are
// float64: json.Unmarshal costs half what a json.Decoder with UseNumber
// does on a typical answer (BenchmarkDecodeJSON), and a prediction's
// number (a class id, a score) compares the same; only an integer beyond
// 2^53 would compare as its nearest float64.
func decodeJSON(b []byte) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
