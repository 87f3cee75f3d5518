package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Handler returns the REST handler:
//
//	POST /v1/predict  {"text": "..."} -> 200 {"category": 2, "label": "technology"}
//	GET  /healthz     -> 200 "ok"
//	GET  /v1/stats    -> 200 Stats as JSON
//
// Errors are JSON {"error": "..."}: 400 for a body that is not exactly one
// JSON object with a non-blank string "text" and no other field, 405 for a
// wrong method, 413 for a body over MaxBody, 404 for other paths and 503
// for injected errors.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/predict":
		s.servePredict(w, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		w.Header()["Content-Type"] = textContentType
		io.WriteString(w, "ok\n")
	case "/v1/stats":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		b, _ := json.Marshal(s.Stats()) // cannot fail: integers, strings and maps keyed by them
		w.Header()["Content-Type"] = jsonContentType
		w.Write(append(b, '\n'))
	default:
		if !s.servePresetHTTP(w, r) {
			writeError(w, http.StatusNotFound, "no route for "+strconv.Quote(r.URL.Path))
		}
	}
}

// Header values shared by all responses, assigned without Header().Set's
// allocation; net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	textContentType = []string{"text/plain; charset=utf-8"}
)

func (s *Server) servePredict(w http.ResponseWriter, r *http.Request) {
	s.httpRequests.Add(1)
	arrival := s.arrival()
	if r.Method != http.MethodPost {
		s.invalid.Add(1)
		methodNotAllowed(w, r, "POST")
		return
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	body, err := readBody(w, r, s.cfg.MaxBody, (*bp)[:0])
	*bp = body[:0]
	if err != nil {
		s.invalid.Add(1)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return
	}
	text, ok := parseFast(body)
	if !ok {
		var msg string
		if text, msg = parseSlow(body); msg != "" {
			s.invalid.Add(1)
			writeError(w, http.StatusBadRequest, msg)
			return
		}
	}
	if isBlank(text) {
		s.invalid.Add(1)
		writeError(w, http.StatusBadRequest, `field "text" must not be empty`)
		return
	}
	if !s.restKnobs(w, r, arrival, writeError) {
		return
	}
	c, _ := s.model.Predict(text)
	w.Header()["Content-Type"] = jsonContentType
	w.Write(s.responses[c])
}

// readBody reads at most limit bytes of the body into buf. A longer body
// gives an *http.MaxBytesError, and a declared Content-Length over the
// limit is refused before reading anything.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.ContentLength > limit {
		return buf, &http.MaxBytesError{Limit: limit}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

type errorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(errorResponse{Error: msg}) // cannot fail: one string
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use %s", r.Method, allow))
}
