package load

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"syscall"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
)

// Outcome keys for failures that never produced a protocol status. They are
// data in the slice, never an abort.
const (
	outcomeTimeout  = "error:timeout"  // no answer before the request's timeout
	outcomeConnect  = "error:connect"  // could not open a connection
	outcomeRefused  = "error:refused"  // the operator's policy refused the address (shared/policy)
	outcomeReset    = "error:reset"    // the peer reset or closed the connection mid-request
	outcomeProtocol = "error:protocol" // the answer was not valid HTTP
	outcomeTLS      = "error:tls"      // the TLS handshake failed: certificate not trusted, name mismatch, client certificate refused
	outcomeIO       = "error:io"       // any other transport error
	outcomeCanceled = "error:canceled" // the run stopped while the request was in flight
)

// result is what one request produced.
type result struct {
	outcome    string // e.g. "http:200", "grpc:OK", "error:timeout"
	ok         bool
	sent, recv int64 // bytes
	err        error // for a sample message; nil when the outcome says it all
	// checked and correct count the instances target.check compared and
	// found right (0, 0 without a check or for a failed request).
	checked, correct int32
}

// statusTable maps HTTP status codes to outcome keys and success, built
// once so that a request allocates no string and decides nothing: success is
// the plan's rule, plan.Target.Success, asked once per status code.
type statusTable struct {
	keys [600]string
	good [600]bool
}

func newStatusTable(expect []int) *statusTable {
	t := &statusTable{}
	target := plan.Target{ExpectStatus: expect}
	for c := 100; c < 600; c++ {
		t.keys[c] = "http:" + strconv.Itoa(c)
		t.good[c] = target.Success(t.keys[c])
	}
	return t
}

func (t *statusTable) key(code int) string {
	if code < 100 || code >= 600 {
		return outcomeProtocol
	}
	return t.keys[code]
}

func (t *statusTable) ok(code int) bool { return code >= 100 && code < 600 && t.good[code] }

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classifyDial(err error) string {
	switch {
	case errors.Is(err, policy.ErrRefused):
		return outcomeRefused
	case isTimeout(err):
		return outcomeTimeout
	case isTLSFailure(err):
		return outcomeTLS // the connection opened, its handshake did not
	}
	return outcomeConnect
}

func classifyIO(err error) string {
	switch {
	case errors.Is(err, policy.ErrRefused):
		return outcomeRefused
	case isTimeout(err):
		return outcomeTimeout
	case errors.Is(err, errProtocol):
		return outcomeProtocol
	case isTLSFailure(err):
		return outcomeTLS
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outcomeReset
	case errors.Is(err, syscall.ECONNREFUSED):
		return outcomeConnect
	}
	return outcomeIO
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
