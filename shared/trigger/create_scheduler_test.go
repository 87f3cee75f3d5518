package trigger

import (
	"net/http/httptest"
	"testing"
)

func TestIdempotencyKeyFromScheduler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"explicit key wins", map[string]string{"Idempotency-Key": "k1", "X-CloudScheduler-JobName": "nightly", "X-CloudScheduler-ScheduleTime": "2026-11-27T02:00:00Z"}, "k1"},
		{"scheduler job and time", map[string]string{"X-CloudScheduler-JobName": "nightly", "X-CloudScheduler-ScheduleTime": "2026-11-27T02:00:00Z"}, "cloudscheduler:nightly@2026-11-27T02:00:00Z"},
		{"job without time is no key", map[string]string{"X-CloudScheduler-JobName": "nightly"}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/runs", nil)
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		if got := idempotencyKey(r); got != tt.want {
			t.Errorf("%s: key %q, want %q", tt.name, got, tt.want)
		}
	}
}
