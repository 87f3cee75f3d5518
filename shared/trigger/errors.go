package trigger

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/redact"
)

// Kind is why the trigger refused or failed a request. It is what a caller
// of Service.Create branches on; httpStatus turns it into the answer's
// status.
type Kind uint8

// Kinds of Error. The zero Kind is an internal error.
const (
	KindInternal         Kind = iota // a bug, or a configuration the trigger cannot work with
	KindInvalid                      // not a plan the trigger can run, or a bad Idempotency-Key
	KindForbidden                    // the plan aims at a host outside the allow-list, or skips certificate verification
	KindNotFound                     // no such path, run or file
	KindMethodNotAllowed             // the path exists, not with this method
	KindTooLarge                     // the body is over Config.MaxBody
	KindOverLimit                    // a valid plan over an operator limit
	KindKeyReused                    // an Idempotency-Key already bound to another plan
	KindUnavailable                  // the bucket or the bus failed
	KindUnauthenticated              // no caller identity where the trigger needs one
	KindUnsupportedType              // a POST body declared neither JSON nor YAML
	KindMisdirected                  // a Host the trigger does not answer to
	KindBusy                         // over the operator's limit of runs at once
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
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindUnsupportedType:
		return http.StatusUnsupportedMediaType
	case KindMisdirected:
		return http.StatusMisdirectedRequest
	case KindBusy:
		return http.StatusTooManyRequests
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
	// RetryAfter, when set, is when the client may try again
	// (KindBusy): the answer's Retry-After header.
	RetryAfter time.Duration
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
	// A message or a reason may quote the plan's URL, query and all.
	body := errorBody{Error: redact.Text(err.Error())}
	var e *Error
	if errors.As(err, &e) {
		for _, p := range e.Problems {
			p.Reason = redact.Text(p.Reason)
			body.Problems = append(body.Problems, p)
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)))
		}
	}
	if KindOf(err) == KindUnauthenticated {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, httpStatus(KindOf(err)), body)
}
