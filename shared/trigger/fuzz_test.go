package trigger

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzHandler sends arbitrary requests: the handler must never panic, must
// answer one of its documented statuses, and must answer errors as JSON.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/runs", "application/json", planJSON(1, ""))
	f.Add("POST", "/runs", "application/yaml", planYAML)
	f.Add("POST", "/runs", "", `{"name": [1, {"x": null}]}`)
	f.Add("POST", "/runs/", "text/yaml", "&a [*a, *a]")
	f.Add("GET", "/runs/"+testRun, "", "")
	f.Add("GET", "/runs/"+testRun+"/report.json", "", "")
	f.Add("DELETE", "/runs/20261127-040512-000000", "", "")
	f.Add("PUT", "/x/y/z/w", "bad/;;", "\x00\xff")
	e := newEnv(f, testConfig())
	codes := []int{200, 202, 400, 403, 404, 405, 409, 413, 415, 422, 503}
	f.Fuzz(func(t *testing.T, method, path, contentType, body string) {
		if u, err := url.ParseRequestURI(path); err != nil || u.Path != path || !validMethod(method) || strings.ContainsAny(path, " \t") {
			t.Skip() // not a request a server would hand over (httptest panics on a space)
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if !slices.Contains(codes, w.Code) {
			t.Errorf("%s %s = %d, not a documented status", method, path, w.Code)
		}
		if w.Code >= 400 {
			var eb errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Errorf("%s %s = %d with body %q: want JSON {\"error\"}", method, path, w.Code, w.Body)
			}
		}
	})
}

func validMethod(m string) bool {
	return slices.Contains([]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}, m)
}
