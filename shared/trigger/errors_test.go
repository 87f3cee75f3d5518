package trigger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/cicadaload/cicada/shared/plan"
)

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind Kind
		want int
	}{
		{KindInternal, http.StatusInternalServerError},
		{KindInvalid, http.StatusBadRequest},
		{KindForbidden, http.StatusForbidden},
		{KindNotFound, http.StatusNotFound},
		{KindMethodNotAllowed, http.StatusMethodNotAllowed},
		{KindTooLarge, http.StatusRequestEntityTooLarge},
		{KindOverLimit, http.StatusUnprocessableEntity},
		{KindKeyReused, http.StatusUnprocessableEntity},
		{KindUnavailable, http.StatusServiceUnavailable},
		{Kind(200), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := httpStatus(tt.kind); got != tt.want {
			t.Errorf("httpStatus(%d) = %d, want %d", tt.kind, got, tt.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"Error", &Error{Kind: KindForbidden, Message: "no"}, KindForbidden},
		{"wrapped Error", fmt.Errorf("create: %w", &Error{Kind: KindOverLimit}), KindOverLimit},
		{"wrapped unavailable", fmt.Errorf("create: %w", &Error{Kind: KindUnavailable, Err: errors.New("bus down")}), KindUnavailable},
		{"plain error", errors.New("boom"), KindInternal},
		{"context error", context.DeadlineExceeded, KindInternal},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("%s: KindOf = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestFail checks the one function that answers errors: status, body and
// headers for each sort of error.
func TestFail(t *testing.T) {
	t.Parallel()
	probs := []plan.Problem{{Path: "shards", Reason: "17 shards is over this trigger's limit of 16"}}
	tests := []struct {
		name     string
		err      error
		code     int
		body     errorBody
		location string
	}{
		{"invalid with problems", &Error{Kind: KindInvalid, Message: "invalid plan", Problems: probs}, 400,
			errorBody{Error: "invalid plan", Problems: probs}, ""},
		{"message from the cause", &Error{Kind: KindUnavailable, Err: errors.New("store run x: closed")}, 503,
			errorBody{Error: "store run x: closed"}, ""},
		{"message wins over the cause", &Error{Kind: KindKeyReused, Message: "reused (run x)", Err: errKeyReused}, 422,
			errorBody{Error: "reused (run x)"}, ""},
		{"too large", &Error{Kind: KindTooLarge, Message: "plan body is larger"}, 413, errorBody{Error: "plan body is larger"}, ""},
		{"plain error", errors.New("boom"), 500, errorBody{Error: "boom"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHandler(Deps{}).(*handler)
			w := httptest.NewRecorder()
			h.fail(w, httptest.NewRequest(http.MethodPost, "/runs", nil), tt.err)
			if w.Code != tt.code {
				t.Errorf("status %d, want %d", w.Code, tt.code)
			}
			if got := decode[errorBody](t, w); !reflect.DeepEqual(got, tt.body) {
				t.Errorf("body %+v, want %+v", got, tt.body)
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
		})
	}
}

// TestConfigError checks that a handler built from a bad configuration
// answers every request 500 naming the problem.
func TestConfigError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		deps Deps
		want string
	}{
		{"no store or bus", Deps{Config: testConfig()}, "Deps.Store and Deps.Bus are required"},
		{"bad allow-list", Deps{Config: Config{AllowedTargets: []string{"a*b"}}}, `allowed target "a*b"`},
	}
	for _, tt := range tests {
		if _, err := NewService(tt.deps); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewService error %v, want one naming %q", tt.name, err, tt.want)
		}
		for _, path := range []string{"/runs", "/runs/" + testRun, "/nowhere"} {
			w := httptest.NewRecorder()
			NewHandler(tt.deps).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusInternalServerError {
				t.Errorf("%s: GET %s = %d %s, want 500", tt.name, path, w.Code, w.Body)
			}
			if got := decode[errorBody](t, w).Error; !strings.Contains(got, tt.want) {
				t.Errorf("%s: GET %s: error %q, want it to name %q", tt.name, path, got, tt.want)
			}
		}
	}
}
