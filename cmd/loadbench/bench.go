package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cicadaload/cicada/internal/testpki"
	inferencev2 "github.com/cicadaload/cicada/proto/inference/v2"
	"github.com/cicadaload/cicada/shared/predict"
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
	// The Open Inference Protocol scenario: ModelInfer's descriptor as a
	// protoset file, and its request with texts[0] in protojson.
	oipProtoset string
	oipBody     string
	// texts as JSONL records labeled with the sample classifier's answers,
	// for the checked scenario.
	labeledFile string

	// The TLS target, started only when a TLS scenario runs.
	httpsURL    string // https://127.0.0.1:port/v1/predict
	grpcTLSAddr string // 127.0.0.1:port
	caPEM       string // the CA that issued its certificate
	caFile      string
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
	exe, err := buildLocal(ctx, e.root, filepath.Join(e.bin, "predict"), "./jobs/predict")
	if err != nil {
		return err
	}
	tgt, err := startTarget(ctx, exe, work, "predict", nil)
	if err != nil {
		return err
	}
	defer tgt.stop()
	e.httpURL = "http://" + tgt.httpAddr + "/v1/predict"
	e.grpcAddr = tgt.grpcAddr
	jobs := selectJobs(cfg)
	var tlsTgt *target
	if slices.ContainsFunc(jobs, func(j job) bool { return overTLS(j.Scenario) }) {
		tlsc, err := writeCerts(e)
		if err != nil {
			return err
		}
		if tlsTgt, err = startTarget(ctx, exe, work, "predict-tls", tlsc); err != nil {
			return err
		}
		defer tlsTgt.stop()
		e.httpsURL = "https://" + tlsTgt.httpAddr + "/v1/predict"
		e.grpcTLSAddr = tlsTgt.grpcAddr
	}
	if err := writeInputs(e); err != nil {
		return err
	}

	loadBefore := loadAverage()
	rows := runJobs(ctx, e, tgt, tlsTgt, jobs)
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

// runJobs runs each job in turn, checking first that its target (tlsTgt
// for a TLS scenario) still answers.
func runJobs(ctx context.Context, e *env, tgt, tlsTgt *target, jobs []job) []row {
	rows := make([]row, 0, len(jobs))
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "loadbench: %-7s %-12s %-13s ", j.Tool, j.Scenario, j.Variant)
		r := row{job: j}
		t := tgt
		if overTLS(j.Scenario) {
			t = tlsTgt
		}
		if err := t.healthy(ctx); err != nil {
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
	if err := writeOIP(e); err != nil {
		return err
	}
	if err := writeLabeled(e); err != nil {
		return err
	}
	e.luaFile = filepath.Join(e.work, "post.lua")
	return renderTemplate(filepath.Join(e.root, "bench", "post.lua.tmpl"), e.luaFile,
		struct{ Body string }{e.body})
}

// writeLabeled writes texts as JSONL records labeled with what the sample
// classifier answers for each, so that a check of every answer passes.
func writeLabeled(e *env) error {
	var buf bytes.Buffer
	for _, s := range texts {
		_, label := predict.Default().Predict(s)
		b, err := json.Marshal(map[string]string{"text": s, "label": label})
		if err != nil {
			return fmt.Errorf("encode a labeled text: %w", err)
		}
		buf.Write(append(b, '\n'))
	}
	e.labeledFile = filepath.Join(e.work, "labeled.jsonl")
	if err := os.WriteFile(e.labeledFile, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write labeled texts: %w", err)
	}
	return nil
}

// oipModel is the model the predict service serves (predict.DefaultModelName).
const oipModel = "textcls"

// writeOIP writes the Open Inference Protocol's descriptor as a protoset
// (a FileDescriptorSet, what protoc --descriptor_set_out writes) from the
// compiled descriptor cicada's oip_v2 preset uses, and ghz's request: the
// body the preset renders for texts[0].
func writeOIP(e *env) error {
	fd := inferencev2.File_inference_v2_grpc_predict_v2_proto
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(fd)}}
	b, err := proto.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode the OIP protoset: %w", err)
	}
	e.oipProtoset = filepath.Join(e.work, "oip.protoset")
	if err := os.WriteFile(e.oipProtoset, b, 0o644); err != nil {
		return fmt.Errorf("write the OIP protoset: %w", err)
	}
	req := &inferencev2.ModelInferRequest{
		ModelName: oipModel,
		Inputs: []*inferencev2.ModelInferRequest_InferInputTensor{{
			Name: "text", Datatype: "BYTES", Shape: []int64{1},
			Contents: &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte(texts[0])}},
		}},
	}
	body, err := protojson.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode the OIP request: %w", err)
	}
	e.oipBody = string(body)
	return nil
}

// writeCerts makes a CA and a certificate for 127.0.0.1 for the TLS
// target, and writes them into the work directory.
func writeCerts(e *env) (*targetTLS, error) {
	ca, err := testpki.NewCA("loadbench CA")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Server("127.0.0.1")
	if err != nil {
		return nil, err
	}
	tlsc := &targetTLS{certFile: filepath.Join(e.work, "cert.pem"), keyFile: filepath.Join(e.work, "key.pem"), roots: ca.Pool()}
	e.caFile, e.caPEM = filepath.Join(e.work, "ca.pem"), string(ca.CertPEM)
	for name, b := range map[string][]byte{e.caFile: ca.CertPEM, tlsc.certFile: leaf.CertPEM, tlsc.keyFile: leaf.KeyPEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	return tlsc, nil
}

// planData fills the plan templates in bench/plans.
type planData struct {
	URL, Address, Duration string
	Users, Rate            int
	Connections            int
	Texts                  []string
	CA                     string // PEM: the target speaks TLS with a certificate it issued
	Model                  string // a preset's model
	Check                  bool   // check each answer's label against DataFile's records
	DataFile               string
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
