// Package deploy_test checks offline what the image and the Cloud Build
// rely on: that the Dockerfile's go build gives static binaries from the
// files .dockerignore lets through (no Docker engine needed), and that
// cloudbuild.yaml is well formed and refers to things that exist.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cicadaload/cicada/shared/policy"
)

const root = ".."

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerfile is what these tests read of the Dockerfile.
type dockerfile struct {
	froms      []string // image of each FROM, in order
	user       string   // last USER
	entrypoint string
	env        map[string]string // ENV of the build stage
	buildArgs  []string          // the go build command's arguments after "go build"
}

func parseDockerfile(text string) (dockerfile, error) {
	d := dockerfile{env: map[string]string{}}
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.froms = append(d.froms, strings.Fields(rest)[0])
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			d.entrypoint = rest
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(kv, "="); ok && len(d.froms) == 1 {
					d.env[k] = v
				}
			}
		case "RUN":
			if _, after, ok := strings.Cut(rest, "go build "); ok {
				if d.buildArgs != nil {
					return d, errors.New("more than one go build")
				}
				d.buildArgs = splitShell(after)
			}
		}
	}
	if len(d.froms) < 2 {
		return d, fmt.Errorf("%d stages, want a build stage and a final stage", len(d.froms))
	}
	if d.buildArgs == nil {
		return d, errors.New("no RUN go build")
	}
	return d, nil
}

// splitShell splits a command line into words as a shell would for the
// simple lines of a Dockerfile: blanks separate, double or single quotes
// group (and are removed).
func splitShell(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// packages returns the ./... package arguments of the go build.
func (d dockerfile) packages() []string {
	var pkgs []string
	for _, a := range d.buildArgs {
		if strings.HasPrefix(a, "./") {
			pkgs = append(pkgs, a)
		}
	}
	return pkgs
}

// checkDockerfile returns what is wrong with d for a static, non-root image.
func checkDockerfile(d dockerfile, goVersion string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if want := "golang:" + goVersion; !strings.HasPrefix(d.froms[0], want) {
		fail("build stage FROM %s, want %s (go.mod's Go)", d.froms[0], want)
	}
	final := d.froms[len(d.froms)-1]
	if final != "scratch" && !strings.HasPrefix(final, "gcr.io/distroless/static") {
		fail("final stage FROM %s: want scratch or gcr.io/distroless/static (no libc: the binaries must be static)", final)
	}
	if d.user == "" || d.user == "root" || d.user == "0" || strings.HasPrefix(d.user, "0:") || strings.HasPrefix(d.user, "root:") {
		fail("USER %q: the image must run as a non-root user", d.user)
	}
	if d.env["CGO_ENABLED"] != "0" {
		fail("build stage ENV CGO_ENABLED=%q, want 0 (static binaries)", d.env["CGO_ENABLED"])
	}
	if !slices.Contains(d.buildArgs, "-trimpath") {
		fail("go build without -trimpath")
	}
	if !slices.Contains(d.buildArgs, "/out/") {
		fail("go build does not write to /out/, which the final stage copies")
	}
	if len(d.packages()) == 0 {
		fail("go build names no ./... package")
	}
	if !strings.HasPrefix(d.entrypoint, "[") {
		fail("ENTRYPOINT %s: want the exec form (no shell in the image)", d.entrypoint)
	}
	return errs
}

func goModVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return m[1]
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	d, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, err := range checkDockerfile(d, goModVersion(t)) {
		t.Error(err)
	}
}

func TestDockerfileCheckFails(t *testing.T) {
	t.Parallel()
	valid := `FROM golang:1.26 AS build
ENV CGO_ENABLED=0
RUN go build -trimpath -o /out/ \
	./jobs/worker
FROM gcr.io/distroless/static-debian12:nonroot
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cicada"]
`
	tests := []struct {
		name, old, new, wantErr string
	}{
		{name: "valid"},
		{"cgo left on", "ENV CGO_ENABLED=0\n", "", "CGO_ENABLED"},
		{"no trimpath", "-trimpath ", "", "-trimpath"},
		{"libc base", "gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/base-debian12", "no libc"},
		{"root user", "USER 65532:65532", "USER root", "non-root"},
		{"no user", "USER 65532:65532\n", "", "non-root"},
		{"old Go", "golang:1.26", "golang:1.22", "go.mod's Go"},
		{"shell entrypoint", `ENTRYPOINT ["/usr/local/bin/cicada"]`, "ENTRYPOINT /usr/local/bin/cicada", "exec form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := valid
			if tt.old != "" {
				if !strings.Contains(text, tt.old) {
					t.Fatalf("no %q to replace", tt.old)
				}
				text = strings.Replace(text, tt.old, tt.new, 1)
			}
			d, err := parseDockerfile(text)
			if err != nil {
				t.Fatal(err)
			}
			errs := checkDockerfile(d, "1.26")
			if tt.wantErr == "" {
				for _, err := range errs {
					t.Error(err)
				}
				return
			}
			if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), tt.wantErr) }) {
				t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
			}
		})
	}
}

// staticProblem says why the ELF file at path is not a static executable
// (an interpreter or needed shared libraries), or "" when it is static.
func staticProblem(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "has an interpreter (PT_INTERP): dynamically linked", nil
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Sprintf("needs shared libraries %v", libs), nil
	}
	return "", nil
}

// ignoreMatcher is the part of .dockerignore syntax the file uses: paths
// relative to the context, globs, and a leading **/ for any depth.
type ignoreMatcher []string

func (m ignoreMatcher) ignored(rel string) bool {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, pat := range m {
		anyDepth := strings.HasPrefix(pat, "**/")
		pat = strings.TrimPrefix(pat, "**/")
		for start := 0; start < len(parts); start++ {
			if start > 0 && !anyDepth {
				break
			}
			for end := start + 1; end <= len(parts); end++ {
				if ok, _ := path.Match(pat, strings.Join(parts[start:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

func readIgnore(t *testing.T) ignoreMatcher {
	t.Helper()
	var m ignoreMatcher
	for _, line := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not understood by this test", line)
		}
		m = append(m, strings.TrimPrefix(line, "/"))
	}
	return m
}

func TestDockerignoreMatcher(t *testing.T) {
	t.Parallel()
	m := ignoreMatcher{".git", "out", "**/*.test", "**/.terraform"}
	tests := []struct {
		path string
		want bool
	}{
		{".git/config", true},
		{"out/x/report.json", true},
		{"shared/out/x.go", false}, // out is anchored at the root
		{"jobs/worker/worker.test", true},
		{"deploy/terraform/.terraform/x", true},
		{"shared/predict/model.bin", false},
	}
	for _, tt := range tests {
		if got := m.ignored(tt.path); got != tt.want {
			t.Errorf("ignored(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestImageBinariesStatic builds the Dockerfile's packages the Dockerfile's
// way from a copy of the build context (the repository less .dockerignore)
// and checks every binary is static: what the distroless/static base, which
// has no libc, relies on.
func TestImageBinariesStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary of the image")
	}
	d, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ignore := readIgnore(t)
	ctx := filepath.Join(t.TempDir(), "context")
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if ignore.ignored(rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(ctx, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the build context: %v", err)
	}

	out := filepath.Join(t.TempDir(), "out") + string(filepath.Separator)
	args := []string{"build"}
	for _, a := range d.buildArgs {
		if a == "/out/" {
			a = out
		}
		args = append(args, a)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "GOOS=linux", "GOARCH=amd64")
	for k, v := range d.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s (the Dockerfile's build) in the build context: %v\n%s", strings.Join(args, " "), err, b)
	}
	for _, pkg := range d.packages() {
		bin := filepath.Join(out, path.Base(pkg))
		problem, err := staticProblem(bin)
		if err != nil {
			t.Errorf("%s: %v", pkg, err)
			continue
		}
		if problem != "" {
			t.Errorf("%s: %s; distroless/static has no libc", pkg, problem)
		}
	}
}

// TestStaticProblemSeesDynamic proves the static check fails on a
// dynamically linked executable: the machine's own shell.
func TestStaticProblemSeesDynamic(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		problem, err := staticProblem(p)
		if err != nil {
			continue // not ELF (a script, say)
		}
		if problem == "" {
			continue // a static build of it
		}
		if !strings.Contains(problem, "PT_INTERP") && !strings.Contains(problem, "shared libraries") {
			t.Fatalf("staticProblem(%s) = %q", p, problem)
		}
		return
	}
	t.Skip("no dynamically linked executable on this machine to check against")
}

// cloudBuild is the part of Cloud Build's schema cloudbuild.yaml uses; a
// field outside it is an error (a typo Cloud Build would refuse).
type cloudBuild struct {
	Substitutions map[string]string `json:"substitutions"`
	Options       struct {
		DynamicSubstitutions bool   `json:"dynamic_substitutions"`
		Logging              string `json:"logging"`
		MachineType          string `json:"machineType"`
	} `json:"options"`
	Timeout string `json:"timeout"`
	Steps   []step `json:"steps"`
	Images  []string
}

type step struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Entrypoint string   `json:"entrypoint"`
	Args       []string `json:"args"`
	Env        []string `json:"env"`
	Dir        string   `json:"dir"`
	WaitFor    []string `json:"waitFor"`
}

func parseCloudBuild(text string) (cloudBuild, error) {
	var cb cloudBuild
	js, err := yaml.YAMLToJSONStrict([]byte(text))
	if err != nil {
		return cb, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cb); err != nil {
		return cb, err
	}
	return cb, nil
}

// builtins are Cloud Build's own substitutions.
var builtins = []string{"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA",
	"REVISION_ID", "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
	"TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}

var substRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// the image every step must agree on.
const imagePath = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPO}/cicada"

// cbRepo is what checkCloudBuild checks references against.
type cbRepo struct {
	makeTargets []string
	exists      func(rel string) bool
	goVersion   string
	// policy are the keys of the operator's policy render-k8s.sh gives the
	// workers, each of which the render step must pass from _KEY.
	policy []string
}

// policyKeys are render-k8s.sh's keys of the operator's policy: the
// variables of policy.Rules, the trigger's MAX_SHARDS and the credential
// header names.
func policyKeys() []string {
	return append(policy.Names(), "MAX_SHARDS", "SECRET_HEADERS")
}

func checkCloudBuild(cb cloudBuild, repo cbRepo) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// Substitutions: every one used is built in or declared; every one
	// declared is used (Cloud Build refuses both).
	used := map[string]bool{}
	scan := func(where, s string) {
		for _, m := range substRE.FindAllStringSubmatch(s, -1) {
			name := m[1] + m[2]
			if name == "" {
				continue // $$, a literal $
			}
			used[name] = true
			if _, declared := cb.Substitutions[name]; !slices.Contains(builtins, name) && !declared {
				fail("%s: $%s is neither built in nor declared in substitutions (write $$ for a shell variable)", where, name)
			}
		}
	}
	for k, v := range cb.Substitutions {
		if !strings.HasPrefix(k, "_") {
			fail("substitution %s: user substitutions start with _", k)
		}
		if strings.Contains(v, "$") && !cb.Options.DynamicSubstitutions {
			fail("substitution %s refers to %s without options.dynamic_substitutions", k, v)
		}
		scan("substitution "+k, v)
	}
	for _, s := range cb.Steps {
		for _, a := range append(append([]string{s.Name, s.Entrypoint, s.Dir}, s.Args...), s.Env...) {
			scan("step "+s.ID, a)
		}
	}
	for k := range cb.Substitutions {
		if !used[k] {
			fail("substitution %s is declared but never used", k)
		}
	}

	// Steps: ids unique, waitFor known and earlier; deps is the transitive
	// closure (a step without waitFor waits for every step before it).
	deps := map[string]map[string]bool{}
	var before []string
	byID := map[string]step{}
	for _, s := range cb.Steps {
		if s.ID == "" {
			fail("step %s has no id", s.Name)
			continue
		}
		if _, dup := byID[s.ID]; dup {
			fail("step id %s is used twice", s.ID)
		}
		byID[s.ID] = s
		d := map[string]bool{}
		waits := s.WaitFor
		if waits == nil {
			waits = before
		}
		for _, w := range waits {
			if w == "-" {
				continue
			}
			if _, ok := deps[w]; !ok {
				fail("step %s waits for %s, not an earlier step", s.ID, w)
				continue
			}
			d[w] = true
			for x := range deps[w] {
				d[x] = true
			}
		}
		deps[s.ID] = d
		before = append(before, s.ID)
	}

	var built, pushed, applied, renderOut string
	for _, s := range cb.Steps {
		cmdline := strings.Join(append([]string{s.Entrypoint}, s.Args...), " ")
		for _, m := range regexp.MustCompile(`\bmake ([a-z][a-z0-9-]*)`).FindAllStringSubmatch(cmdline, -1) {
			if !slices.Contains(repo.makeTargets, m[1]) {
				fail("step %s runs make %s, not a Makefile target", s.ID, m[1])
			}
		}
		for _, a := range s.Args {
			if strings.HasPrefix(a, "scripts/") && !repo.exists(a) {
				fail("step %s runs %s, which does not exist", s.ID, a)
			}
		}
		if strings.HasPrefix(s.Name, "golang:") && !strings.HasPrefix(s.Name, "golang:"+repo.goVersion) {
			fail("step %s uses %s, want golang:%s (go.mod's Go)", s.ID, s.Name, repo.goVersion)
		}
		switch {
		case s.Name == "gcr.io/cloud-builders/docker" && slices.Contains(s.Args, "build"):
			built = s.ID
			if !slices.Contains(s.Args, "--tag="+imagePath+":$COMMIT_SHA") {
				fail("step %s does not tag the image %s:$COMMIT_SHA", s.ID, imagePath)
			}
			for _, a := range s.Args {
				if tag, ok := strings.CutPrefix(a, "--tag="); ok && !strings.HasPrefix(tag, imagePath+":") {
					fail("step %s tags %s, not the registry image %s", s.ID, tag, imagePath)
				}
			}
		case s.Name == "gcr.io/cloud-builders/docker" && slices.Contains(s.Args, "push"):
			pushed = s.ID
			if !slices.Contains(s.Args, imagePath) && !slices.Contains(s.Args, imagePath+":$COMMIT_SHA") {
				fail("step %s does not push %s", s.ID, imagePath)
			}
		case slices.Contains(s.Args, "scripts/render-k8s.sh"):
			env := map[string]string{}
			for _, kv := range s.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			if env["IMAGE"] != imagePath || env["TAG"] != "$COMMIT_SHA" {
				fail("step %s renders image %s:%s, want %s:$COMMIT_SHA", s.ID, env["IMAGE"], env["TAG"], imagePath)
			}
			renderOut = env["OUT_DIR"]
			if renderOut == "" {
				fail("step %s sets no OUT_DIR", s.ID)
			}
			for _, k := range repo.policy {
				if want := "${_" + k + "}"; env[k] != want {
					fail("step %s sets %s=%q, want %s: the workers get the trigger's policy from the substitutions", s.ID, k, env[k], want)
				}
			}
		case s.Name == "gcr.io/cloud-builders/kubectl" && len(s.Args) > 0 && s.Args[0] == "apply":
			applied = s.ID
			if i := slices.Index(s.Args, "-k"); i < 0 || i+1 >= len(s.Args) || s.Args[i+1] != renderOut {
				fail("step %s does not apply -k %s, the rendered manifests", s.ID, renderOut)
			}
			env := strings.Join(s.Env, " ")
			if !strings.Contains(env, "CLOUDSDK_CONTAINER_CLUSTER=") ||
				(!strings.Contains(env, "CLOUDSDK_COMPUTE_REGION=") && !strings.Contains(env, "CLOUDSDK_COMPUTE_ZONE=")) {
				fail("step %s does not name the cluster (CLOUDSDK_CONTAINER_CLUSTER and a region or zone)", s.ID)
			}
		}
	}
	if built == "" || pushed == "" || applied == "" {
		fail("steps: build %q, push %q, apply %q: want all three", built, pushed, applied)
		return errs
	}
	if !deps[pushed][built] || !deps[pushed]["test"] {
		fail("step %s must wait for %s and test: only a tested image is pushed", pushed, built)
	}
	if !deps[applied][pushed] || !deps[applied]["test"] {
		fail("step %s must wait for %s and test: the cluster pulls the pushed, tested image", applied, pushed)
	}
	return errs
}

func makeTargets(t *testing.T) []string {
	t.Helper()
	var targets []string
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_.-]+):([^=]|$)`).FindAllStringSubmatch(readFile(t, "Makefile"), -1) {
		targets = append(targets, m[1])
	}
	return targets
}

func repoFacts(t *testing.T) cbRepo {
	t.Helper()
	return cbRepo{
		makeTargets: makeTargets(t),
		exists: func(rel string) bool {
			_, err := os.Stat(filepath.Join(root, rel))
			return err == nil
		},
		goVersion: goModVersion(t),
		policy:    policyKeys(),
	}
}

func TestCloudBuild(t *testing.T) {
	t.Parallel()
	cb, err := parseCloudBuild(readFile(t, "cloudbuild.yaml"))
	if err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	for _, err := range checkCloudBuild(cb, repoFacts(t)) {
		t.Error(err)
	}
	if !slices.Contains(makeTargets(t), "function-source") {
		t.Error("Makefile has no function-source target")
	}
}

func TestCloudBuildCheckFails(t *testing.T) {
	t.Parallel()
	valid := readFile(t, "cloudbuild.yaml")
	repo := repoFacts(t)
	tests := []struct {
		name, old, new, wantErr string
		parseErr                bool
	}{
		{name: "the real file"},
		{name: "unknown field", old: "    entrypoint: bash\n", new: "    entry_point: bash\n", wantErr: "unknown field", parseErr: true},
		{name: "undeclared substitution", old: "CLOUDSDK_CONTAINER_CLUSTER=${_CLUSTER}", new: "CLOUDSDK_CONTAINER_CLUSTER=${_CLUSTR}", wantErr: "$_CLUSTR is neither built in nor declared"},
		{name: "shell variable not escaped", old: "- make function-source && cd", new: "- make function-source && echo $HOME && cd", wantErr: "$HOME is neither"},
		{name: "unused substitution", old: "  _REPO: cicada\n", new: "  _REPO: cicada\n  _SPARE: x\n", wantErr: "_SPARE is declared but never used"},
		{name: "missing make target", old: "- make function-source &&", new: "- make function-src &&", wantErr: "make function-src, not a Makefile target"},
		{name: "missing script", old: "args: [scripts/render-k8s.sh]", new: "args: [scripts/render.sh]", wantErr: "scripts/render.sh, which does not exist"},
		{name: "no commit tag", old: "cicada:$COMMIT_SHA\n", new: "cicada:$SHORT_SHA\n", wantErr: "does not tag the image"},
		{name: "render with latest", old: "      - TAG=$COMMIT_SHA", new: "      - TAG=latest", wantErr: "want " + imagePath + ":$COMMIT_SHA"},
		{name: "apply another folder", old: "args: [apply, -k, dist/k8s]", new: "args: [apply, -k, deploy/k8s]", wantErr: "does not apply -k dist/k8s"},
		{name: "push before the tests", old: "waitFor: [test, function-source, build-image]", new: "waitFor: [build-image]", wantErr: "only a tested image is pushed"},
		{name: "wait for a later step", old: "waitFor: [push-image, render-manifests]", new: "waitFor: [push-image, rollout-worker]", wantErr: "not an earlier step"},
		{name: "workers without the allow-list", old: "      - ALLOWED_TARGETS=${_ALLOWED_TARGETS}\n", new: "",
			wantErr: `sets ALLOWED_TARGETS="", want ${_ALLOWED_TARGETS}`},
		{name: "workers with another limit", old: "      - MAX_RATE=${_MAX_RATE}", new: "      - MAX_RATE=1000000",
			wantErr: `sets MAX_RATE="1000000", want ${_MAX_RATE}`},
		{name: "old Go", old: "name: golang:1.26\n    entrypoint: bash\n    args:", new: "name: golang:1.22\n    entrypoint: bash\n    args:", wantErr: "want golang:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := valid
			if tt.old != "" {
				if !strings.Contains(text, tt.old) {
					t.Fatalf("cloudbuild.yaml has no %q to replace", tt.old)
				}
				text = strings.Replace(text, tt.old, tt.new, 1)
			}
			cb, err := parseCloudBuild(text)
			if tt.parseErr {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			errs := checkCloudBuild(cb, repo)
			if tt.wantErr == "" {
				for _, err := range errs {
					t.Error(err)
				}
				return
			}
			if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), tt.wantErr) }) {
				t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
			}
		})
	}
}
