package trigger

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/triggerapi"
)

// Accepted is the body of POST /runs's answer.
type Accepted = triggerapi.Accepted

// idempotencyKey is the request's Idempotency-Key, or, for a Cloud
// Scheduler job (which cannot send a header that changes per run), its job
// name and schedule time: Scheduler sends the same pair on each retry of one
// run, so a retried nightly post returns the run instead of starting a
// second one.
func idempotencyKey(r *http.Request) string {
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		return k
	}
	job, at := r.Header.Get("X-CloudScheduler-JobName"), r.Header.Get("X-CloudScheduler-ScheduleTime")
	if job != "" && at != "" {
		return "cloudscheduler:" + job + "@" + at
	}
	return ""
}

// create serves POST /runs: it reads the plan and hands it to
// Service.Create.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	key := idempotencyKey(r)
	// Create checks the key too; checking it here refuses a bad header
	// before the body is read.
	if err := checkKey(key); err != nil {
		h.fail(w, r, err)
		return
	}
	caller, err := h.cfg.callerOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.readPlan(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.Create(r.Context(), Submission{Plan: p, IdempotencyKey: key, SubmittedBy: caller})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	statusURL := h.runURL(r, c.RunID)
	w.Header().Set("Location", statusURL)
	code := http.StatusAccepted
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		code = http.StatusOK
	}
	writeJSON(w, code, Accepted{RunID: c.RunID, StartAt: c.StartAt, StatusURL: statusURL, Note: c.Note})
}

// readPlan reads and parses the body, refusing one that does not declare
// JSON or YAML, over Config.MaxBody, empty or not a valid plan.
func (h *handler) readPlan(w http.ResponseWriter, r *http.Request) (*plan.Plan, error) {
	format, err := planFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	limit := h.cfg.MaxBody
	if r.ContentLength > limit {
		return nil, &Error{Kind: KindTooLarge, Message: fmt.Sprintf("plan body of %d bytes is larger than this trigger's limit of %d bytes", r.ContentLength, limit)}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &Error{Kind: KindTooLarge, Message: fmt.Sprintf("plan body is larger than this trigger's limit of %d bytes", limit), Err: err}
	case err != nil:
		return nil, &Error{Kind: KindInvalid, Message: fmt.Sprintf("read plan body: %v", err), Err: err}
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, &Error{Kind: KindInvalid, Message: "empty body: POST a plan as JSON or YAML"}
	}
	p, err := plan.Parse(data, format)
	var ve *plan.ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, &Error{Kind: KindInvalid, Message: "invalid plan", Problems: ve.Problems, Err: err}
	case err != nil:
		return nil, &Error{Kind: KindInvalid, Message: fmt.Sprintf("invalid plan: %v", err), Err: err}
	}
	return p, nil
}

// planFormat is plan.Parse's format for a POST's Content-Type. Anything
// but JSON or YAML, a missing type included, is refused (415): the types
// a web page may send to another site without a CORS preflight
// (text/plain, forms) are never a plan.
func planFormat(contentType string) (string, error) {
	if f := formatOf(contentType); f != "" {
		return f, nil
	}
	what := fmt.Sprintf("Content-Type %q", contentType)
	if contentType == "" {
		what = "no Content-Type"
	}
	return "", &Error{Kind: KindUnsupportedType, Message: what + ": POST a plan as application/json or application/yaml (also application/x-yaml, text/yaml, +json and +yaml types)"}
}

// formatOf maps a Content-Type to plan.Parse's format, "" for anything but
// JSON and YAML.
func formatOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json"
	case mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml" || strings.HasSuffix(mt, "+yaml"):
		return "yaml"
	}
	return ""
}
