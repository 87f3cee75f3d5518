package trigger

import (
	"errors"
	"net/http"

	"github.com/cicadaload/cicada/shared/plan"
)

// Kind is why the trigger refused or failed a request. It is what a caller
// of Service.Create branches on; httpStatus turns it into the answer's
// status.
type Kind uint8

// Kinds of Error. The zero Kind is an internal error.
const (
	KindInternal         Kind = iota // a bug, or a configuration the trigger cannot work with
	KindInvalid                      // not a plan the trigger can run, or a bad Idempotency-Key
	KindForbidden                    // the plan aims at a host outside the allow-list
	KindNotFound                     // no such path, run or file
	KindMethodNotAllowed             // the path exists, not with this method
	KindTooLarge                     // the body is over Config.MaxBody
	KindOverLimit                    // a valid plan over an operator limit
	KindKeyReused                    // an Idempotency-Key already bound to another plan
	KindUnavailable                  // the bucket or the bus failed
)

// httpStatus is the status of each Kind: the one place the trigger's
// refusals become HTTP statuses (the package doc lists them).
func httpStatus(k Kind) int {
	switch k {
	case KindInvalid:
		return http.StatusBadRequest
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindOverLimit, KindKeyReused:
		return http.StatusUnprocessableEntity
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is a refusal or failure of the trigger, with what a client needs
// to correct its request.
type Error struct {
	Kind Kind
	// Message is the "error" of the answer's body.
	Message string
	// Problems names each offending field of the plan with its reason
	// (KindInvalid, KindForbidden, KindOverLimit).
	Problems []plan.Problem
	// Err is the cause, when another error is.
	Err error
}

func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's Kind: an Error's own, KindInternal for anything else.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// fail answers err: its status by httpStatus(KindOf(err)), its body
// {"error", "problems"}.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Error: err.Error()}
	var e *Error
	if errors.As(err, &e) {
		body.Problems = e.Problems
	}
	writeJSON(w, httpStatus(KindOf(err)), body)
}
