package trigger

import (
	"net/http"
	"strings"
	"testing"
)

// TestRoutesOddPaths checks that the mux sees the path as the trigger
// always split it: at every slash, escaped ones included, with those at
// either end ignored, and empty or dot segments kept (not redirected) as
// ids or files that do not exist.
func TestRoutesOddPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig())
	e.putRun(t, testRun, 1)
	tests := []struct {
		method, path string
		code         int
		want         string // in the body
	}{
		{http.MethodGet, "/runs/" + testRun + "/", http.StatusOK, `"run_id": "` + testRun + `"`},
		{http.MethodGet, "//runs/" + testRun, http.StatusOK, `"run_id": "` + testRun + `"`},
		{http.MethodHead, "/runs/" + testRun, http.StatusOK, `"run_id": "` + testRun + `"`},
		{http.MethodGet, "/runs/" + testRun + "%2Fplan.json", http.StatusOK, `"name": "trigger test"`},
		{http.MethodGet, "/runs/" + testRun + "%2Freport.json", http.StatusNotFound, "report.json of run " + testRun + " not found"},
		{http.MethodGet, "/runs//report.json", http.StatusNotFound, `run id \"\": want the form`},
		{http.MethodGet, "/runs/%2E%2E/report.json", http.StatusNotFound, `run id \"..\": want the form`},
		{http.MethodGet, "/runs/./x", http.StatusNotFound, `no such file \"x\"`},
		{http.MethodGet, "/runs/" + testRun + "/..", http.StatusNotFound, `no such file \"..\"`},
		{http.MethodDelete, "/runs//report.json", http.StatusMethodNotAllowed, "method DELETE not allowed on /runs//report.json (allowed: GET, HEAD)"},
		{http.MethodPut, "/runs/", http.StatusMethodNotAllowed, "method PUT not allowed on /runs/ (allowed: GET, HEAD, POST)"},
		{http.MethodGet, "/runs/a/b/c", http.StatusNotFound, `no such path \"/runs/a/b/c\"`},
		{http.MethodGet, "/runs/a%2Fb%2Fc", http.StatusNotFound, `no such path \"/runs/a/b/c\"`},
		{http.MethodGet, "*", http.StatusNotFound, `no such path \"*\"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := e.do(t, tt.method, tt.path, "", "")
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("%s %s = %d %s, want %d with %s", tt.method, tt.path, w.Code, w.Body, tt.code, tt.want)
			}
		})
	}
}
