package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// texts are the request bodies' texts: short (a JSON body of about 50
// bytes), like a typical prediction request. The fixed-body tools send the
// first; cicada cycles through all of them.
var texts = []string{
	"the match ended in a draw after extra time",
	"shares fell sharply after the earnings report",
	"the new phone has a faster chip and a better camera",
}

// env is what every job needs: where things are and what to hit.
type env struct {
	cfg      config
	root     string // repository root
	bin      string // root/.bin: installed tools and built binaries
	work     string // temporary directory for this run
	tools    map[string]tool
	httpURL  string // http://127.0.0.1:port/v1/predict
	grpcAddr string // 127.0.0.1:port
	body     string // {"text": texts[0]}
	bodyFile string
	luaFile  string // wrk script
}

func run(ctx context.Context, cfg config) error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "loadbench: work directory", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{cfg: cfg, root: root, bin: filepath.Join(root, ".bin"), work: work}
	if err := os.MkdirAll(e.bin, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", e.bin, err)
	}
	e.tools = ensureTools(ctx, e.root, e.bin)
	if err := ctx.Err(); err != nil {
		return err
	}
	tgt, err := startTarget(ctx, e.root, e.bin, work)
	if err != nil {
		return err
	}
	defer tgt.stop()
	e.httpURL = "http://" + tgt.httpAddr + "/v1/predict"
	e.grpcAddr = tgt.grpcAddr
	if err := writeInputs(e); err != nil {
		return err
	}

	loadBefore := loadAverage()
	rows := runJobs(ctx, e, tgt, selectJobs(cfg))
	loadAfter := loadAverage()
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Printf("\nloadbench: %v per run, %d connections, target pinned to CPU 0, generator to CPU 1\n",
		cfg.duration, cfg.connections)
	fmt.Printf("load average before: %s; after: %s\n\n", loadBefore, loadAfter)
	printTable(os.Stdout, rows)
	fmt.Println()
	printGoals(os.Stdout, rows, cfg.rate)
	return nil
}

// runJobs runs each job in turn, checking first that the target still answers.
func runJobs(ctx context.Context, e *env, tgt *target, jobs []job) []row {
	rows := make([]row, 0, len(jobs))
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "loadbench: %-7s %-12s %-13s ", j.Tool, j.Scenario, j.Variant)
		r := row{job: j}
		if err := tgt.healthy(ctx); err != nil {
			r.Status = "failed: " + err.Error()
		} else {
			r = runJob(ctx, e, j)
		}
		fmt.Fprintln(os.Stderr, r.Status)
		rows = append(rows, r)
	}
	return rows
}

// writeInputs writes the shared request body and the wrk script.
func writeInputs(e *env) error {
	b, err := json.Marshal(struct {
		Text string `json:"text"`
	}{texts[0]})
	if err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	e.body = string(b)
	e.bodyFile = filepath.Join(e.work, "body.json")
	if err := os.WriteFile(e.bodyFile, b, 0o644); err != nil {
		return fmt.Errorf("write body: %w", err)
	}
	e.luaFile = filepath.Join(e.work, "post.lua")
	return renderTemplate(filepath.Join(e.root, "bench", "post.lua.tmpl"), e.luaFile,
		struct{ Body string }{e.body})
}

// planData fills the plan templates in bench/plans.
type planData struct {
	URL, Address, Duration string
	Users, Rate            int
	Connections            int
	Texts                  []string
}

// renderTemplate executes the text/template at src with data into dst.
func renderTemplate(src, dst string, data any) error {
	tmpl, err := template.New(filepath.Base(src)).Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v) // a JSON string is a valid YAML scalar
			return string(b), err
		},
	}).ParseFiles(src)
	if err != nil {
		return fmt.Errorf("parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("render %s: %w", src, err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// findRoot walks up from the working directory to the module's go.mod, so
// the command works from any directory of the repository.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/cicadaload/cicada\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run inside the cicada repository (no go.mod of github.com/cicadaload/cicada above the working directory)")
		}
		dir = parent
	}
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// durationSeconds formats d for tools that take whole seconds.
func durationSeconds(d time.Duration) string {
	return fmt.Sprint(int(d / time.Second))
}
