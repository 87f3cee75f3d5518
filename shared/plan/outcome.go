package plan

import (
	"slices"
	"strconv"
	"strings"
)

// Success reports whether an outcome key the engine records ("http:200",
// "grpc:OK", "error:timeout", ...) counts as a success for this target:
// grpc:OK, and for HTTP a status that expect_status lists, or any 2xx when
// it lists none. Every other outcome is an error class. This is the one
// definition of success: the engine counts errors by it, and the report
// files tell successes from error classes by it.
func (t Target) Success(outcome string) bool {
	if outcome == "grpc:OK" {
		return true
	}
	code, ok := strings.CutPrefix(outcome, "http:")
	if !ok {
		return false
	}
	c, err := strconv.Atoi(code)
	switch {
	case err != nil:
		return false
	case len(t.ExpectStatus) > 0:
		return slices.Contains(t.ExpectStatus, c)
	}
	return c >= 200 && c < 300
}
