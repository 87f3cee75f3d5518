package trigger

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/report"
	"github.com/cicadaload/cicada/shared/runs"
	"github.com/cicadaload/cicada/shared/slice"
	"github.com/cicadaload/cicada/shared/store"
)

// LiveRefreshSeconds is how often the live view of a run still going
// reloads itself.
const LiveRefreshSeconds = 2

// livePolicy keeps the live page self-contained: it may fetch nothing, only
// use its own inline styles and data: images, and run no script at all (it
// has none). The reload is a navigation, which the policy does not
// restrict.
const livePolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; base-uri 'none'; form-action 'none'"

// wantsHTML reports whether a request prefers HTML to JSON by its Accept
// header: text/html (or XHTML) must weigh more than application/json. Every
// browser navigation lists text/html first; a missing header, */* alone, or
// a tie keep the JSON that API clients have always had.
func wantsHTML(r *http.Request) bool {
	ranges := parseAccept(r.Header.Values("Accept"))
	html := max(acceptQ(ranges, "text", "html"), acceptQ(ranges, "application", "xhtml+xml"))
	return html > 0 && html > acceptQ(ranges, "application", "json")
}

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ, sub string
	q        float64
}

// parseAccept reads Accept headers leniently: an entry it cannot read is
// skipped, a bad q counts as 0.
func parseAccept(headers []string) []mediaRange {
	var out []mediaRange
	for _, h := range headers {
		for entry := range strings.SplitSeq(h, ",") {
			params := strings.Split(entry, ";")
			typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(params[0])), "/")
			if !ok || typ == "" || sub == "" {
				continue
			}
			m := mediaRange{typ: typ, sub: sub, q: 1}
			for _, p := range params[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err != nil || q < 0 || q > 1 {
						q = 0
					}
					m.q = q
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// acceptQ is the quality of a media type: that of the most specific range
// matching it (RFC 9110 §12.5.1), 0 when none does.
func acceptQ(ranges []mediaRange, typ, sub string) float64 {
	best, q := -1, 0.0
	for _, m := range ranges {
		spec := -1
		switch {
		case m.typ == typ && m.sub == sub:
			spec = 2
		case m.typ == typ && m.sub == "*":
			spec = 1
		case m.typ == "*" && m.sub == "*":
			spec = 0
		}
		if spec > best || (spec == best && spec >= 0 && m.q > q) {
			best, q = spec, m.q
		}
	}
	return q
}

// liveView answers GET /runs/<id> for a browser. While the run goes: a page
// that reloads itself every LiveRefreshSeconds, with the phase, the shards,
// the progress and the charts of live.json so far. Once the report is
// written: report.html from the bucket, or else the report rendered from
// report.json. rep and live are report.json and live.json as status read
// them, nil when absent.
func (h *handler) liveView(w http.ResponseWriter, r *http.Request, st Status, rep, live []byte) {
	ctx := r.Context()
	if rep != nil {
		if st.Links["report.html"] != "" {
			obj, err := h.st.Get(ctx, runs.ReportPath(st.RunID, "report.html"))
			switch {
			case err == nil:
				hd := w.Header()
				hd.Set("Content-Type", files["report.html"])
				hd.Set("X-Content-Type-Options", "nosniff")
				// As GET /runs/<id>/report.html: its scripts may run, but not as the trigger's origin.
				hd.Set("Content-Security-Policy", "sandbox allow-scripts")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(obj.Data)
				return
			case !errors.Is(err, store.ErrNotFound):
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("read report.html of run %s: %v", st.RunID, err))
				return
			}
			// Gone since the status read it: render report.json instead.
		}
		h.writeLivePage(w, r, st, rep, false)
		return
	}
	h.writeLivePage(w, r, st, live, true)
}

// writeLivePage renders doc (live.json while the run goes, report.json once
// done) with the report's HTML renderer, and puts the run's status on top.
// A document that cannot be rendered leaves the status alone on the page.
func (h *handler) writeLivePage(w http.ResponseWriter, r *http.Request, st Status, doc []byte, going bool) {
	title := fmt.Sprintf("cicada run %s", st.RunID)
	if st.PlanName != "" {
		title += fmt.Sprintf(" (%s)", st.PlanName)
	}
	if going {
		title += " · " + st.Phase
	}
	refresh := 0
	if going {
		refresh = LiveRefreshSeconds
	}
	banner, err := h.statusBanner(st, going)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("live view of run %s: %v", st.RunID, err))
		return
	}

	var page []byte
	var renderErr error
	if doc != nil {
		planJSON, err := h.getOptional(r.Context(), runs.PlanPath(st.RunID))
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("live view of run %s: %v", st.RunID, err))
			return
		}
		success := targetOf(planJSON).Success
		if rep := decodeForHTML(doc, success); rep != nil {
			var buf bytes.Buffer
			renderErr = report.WriteHTML(&buf, rep, planJSON, success, report.HTMLOptions{RefreshSeconds: refresh, Title: title, Live: going})
			if renderErr == nil {
				page = spliceBanner(buf.Bytes(), banner, refresh)
			}
		}
	}
	if page == nil {
		var buf bytes.Buffer
		note := ""
		switch {
		case renderErr != nil:
			note = "the report could not be rendered: " + renderErr.Error()
		case doc != nil && going:
			note = "live.json could not be read; the figures come with the next refresh"
		case going:
			note = "no slice has been merged yet: figures and charts appear once the first slices are in"
		default:
			note = "report.json could not be read"
		}
		if err := standalonePage.Execute(&buf, pageData{Title: title, Refresh: refresh, Banner: banner, Note: note}); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("live view of run %s: %v", st.RunID, err))
			return
		}
		page = buf.Bytes()
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", livePolicy)
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page)
}

// decodeForHTML decodes report.json or live.json for the HTML renderer, nil
// when it is unreadable. The JSON has the rows but not the merged results
// behind them, which the renderer uses to tell a slice from a gap: every
// row some shard reported gets a stand-in holding its counters. Per-slice
// outcomes are not in the JSON; they are attributed only when the run has
// a single error class (by the plan's rule, success), where the row's
// errors are exactly that class.
func decodeForHTML(doc []byte, success func(string) bool) *report.Report {
	rep, err := report.Decode(doc)
	if err != nil {
		return nil
	}
	var errorClass string
	classes := 0
	for k := range rep.Summary.Outcomes {
		if !success(k) {
			errorClass = k
			classes++
		}
	}
	rep.SliceResults = make([]*slice.Result, len(rep.Slices))
	for i, row := range rep.Slices {
		if row.ShardsReporting == 0 {
			continue
		}
		res := &slice.Result{RunID: rep.RunID, Index: row.Index, Start: row.Start,
			Intended: row.Intended, Completed: row.Completed, Dropped: row.Dropped, Errors: row.Errors}
		if classes == 1 && row.Errors > 0 {
			res.Outcomes = map[string]int64{errorClass: row.Errors}
		}
		rep.SliceResults[i] = res
	}
	return rep
}

// targetOf is the target of the run's plan.json, whose Success is the
// rule the page marks outcomes by. A plan that is absent or unreadable
// gives the zero target, whose rule is the default: any 2xx, and grpc:OK.
func targetOf(planJSON []byte) plan.Target {
	p, err := plan.Parse(planJSON, "json")
	if err != nil {
		return plan.Target{}
	}
	return p.Target
}

// spliceBanner puts the status banner at the top of the rendered report's
// body, and a refresh into its head if the renderer left it out.
func spliceBanner(doc []byte, banner template.HTML, refresh int) []byte {
	out, ok := insertAfterTag(doc, "<body", []byte(banner))
	if !ok {
		return nil
	}
	if refresh > 0 && !bytes.Contains(bytes.ToLower(out), []byte(`http-equiv="refresh"`)) {
		meta := fmt.Sprintf(`<meta http-equiv="refresh" content="%d">`, refresh)
		if with, ok := insertAfterTag(out, "<head", []byte(meta)); ok {
			out = with
		}
	}
	return out
}

// insertAfterTag inserts ins right after the first opening tag named by
// open ("<body"), case-insensitively.
func insertAfterTag(doc []byte, open string, ins []byte) ([]byte, bool) {
	lower := bytes.ToLower(doc)
	i := bytes.Index(lower, []byte(open))
	for i >= 0 {
		// "<body" must not match "<bodyx": the name ends at a space or '>'.
		if next := i + len(open); next < len(lower) && (lower[next] == '>' || lower[next] == ' ' || lower[next] == '\t' || lower[next] == '\n' || lower[next] == '\r') {
			break
		}
		j := bytes.Index(lower[i+1:], []byte(open))
		if j < 0 {
			i = -1
			break
		}
		i += 1 + j
	}
	if i < 0 {
		return nil, false
	}
	end := bytes.IndexByte(doc[i:], '>')
	if end < 0 {
		return nil, false
	}
	at := i + end + 1
	out := make([]byte, 0, len(doc)+len(ins))
	out = append(out, doc[:at]...)
	out = append(out, ins...)
	return append(out, doc[at:]...), true
}

// bannerData is what the status banner shows.
type bannerData struct {
	Status
	Going    bool
	Refresh  int
	Percent  int
	Progress string
	Files    []fileLink
}

type fileLink struct{ Name, URL string }

// statusBanner renders the run's phase, shards and progress.
func (h *handler) statusBanner(st Status, going bool) (template.HTML, error) {
	now := h.now()
	d := bannerData{Status: st, Going: going}
	if going {
		d.Refresh = LiveRefreshSeconds
	}
	frac := 0.0
	switch total := st.End.Sub(st.StartAt); {
	case !going:
		frac = 1
	case now.Before(st.StartAt):
		d.Progress = "starts in " + st.StartAt.Sub(now).Round(time.Second).String()
	case total > 0:
		frac = min(float64(now.Sub(st.StartAt))/float64(total), 1)
		d.Progress = fmt.Sprintf("%s of %s", min(now.Sub(st.StartAt), total).Round(time.Second), total)
	}
	d.Percent = int(100 * frac)
	for _, f := range linkOrder {
		if u := st.Links[f]; u != "" {
			d.Files = append(d.Files, fileLink{Name: f, URL: u})
		}
	}
	var buf bytes.Buffer
	if err := bannerTemplate.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render status: %w", err)
	}
	return template.HTML(buf.String()), nil
}

var bannerTemplate = template.Must(template.New("banner").Funcs(template.FuncMap{
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
}).Parse(`
<section id="cicada-live" class="cicada-live">
<style>
#cicada-live{font:14px/1.4 system-ui,sans-serif;border:1px solid #ccc;border-radius:6px;padding:10px 14px;margin:10px auto;max-width:1112px;background:#f7f7f9;color:#222}
#cicada-live h2{font-size:16px;margin:0 0 6px}
#cicada-live .phase{display:inline-block;padding:1px 8px;border-radius:10px;background:#2b6cb0;color:#fff;font-weight:600}
#cicada-live .phase-done{background:#2f855a}#cicada-live .phase-failed,#cicada-live .phase-cancelled{background:#c53030}
#cicada-live .bar{height:12px;background:#e2e2e8;border-radius:6px;overflow:hidden;margin:6px 0;max-width:480px}
#cicada-live .bar>div{height:100%;background:#3182ce}
#cicada-live dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}
#cicada-live dt{color:#555}#cicada-live dd{margin:0}
</style>
<h2>run {{.RunID}}{{with .PlanName}} · plan {{.}}{{end}} · <span class="phase phase-{{.Phase}}" id="cicada-phase">{{.Phase}}</span></h2>
<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="{{.Percent}}"><div style="width:{{.Percent}}%"></div></div>
<dl>
<dt>progress</dt><dd id="cicada-progress">{{.Percent}}%{{with .Progress}} · {{.}}{{end}}</dd>
<dt>shards</dt><dd id="cicada-shards">leased {{.ShardsLeased}}/{{.Shards}} · done {{.ShardsDone}}/{{.Shards}}{{if .Cancelled}} · cancelled{{end}}</dd>
<dt>start</dt><dd>{{utc .StartAt}}</dd>
<dt>end</dt><dd>{{utc .End}}</dd>
{{with .Files}}<dt>files</dt><dd>{{range $i, $f := .}}{{if $i}} · {{end}}<a href="{{$f.URL}}">{{$f.Name}}</a>{{end}}</dd>{{end}}
</dl>
{{if .Going}}<p>This page reloads every {{.Refresh}} s while the run goes; the final report replaces it once written.</p>{{end}}
</section>
`))

// pageData is the standalone page's, used when there is nothing to chart.
type pageData struct {
	Title   string
	Refresh int
	Banner  template.HTML
	Note    string
}

var standalonePage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">
{{end}}<title>{{.Title}}</title>
</head>
<body>
{{.Banner}}
<p id="cicada-note" style="margin:10px;font:14px system-ui,sans-serif;color:#555">{{.Note}}</p>
</body>
</html>
`))
