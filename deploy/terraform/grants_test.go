package terraform_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The runs bucket's grants are checked by evaluating their IAM Conditions
// on the object names each component reads, writes and must not write
// (docs/bucket-layout.md): the worker and the aggregator run plans they are
// handed, so they must not be able to write plan.json or run.json, which
// only the trigger writes after checking a plan.

// testBucket names the runs bucket when conditions are evaluated.
const testBucket = "BUCKET"

// run is a run id in the names below.
const run = "20261127-040512-3f9a1c"

// op is what a request does to the bucket.
type op string

const (
	opRead  op = "read"  // get an object
	opWrite op = "write" // create, replace or delete an object
	opList  op = "list"  // list a prefix
)

// access is one request: an op on an object name, or a listing of a prefix.
type access struct {
	op   op
	name string
}

func (a access) String() string { return string(a.op) + " " + a.name }

func rd(name string) access   { return access{opRead, name} }
func wr(name string) access   { return access{opWrite, name} }
func list(name string) access { return access{opList, name} }

// runObj is an object name of run.
func runObj(rest string) string { return "runs/" + run + "/" + rest }

// bucketRules says, per service account (by resource name), what it must
// be able to do in the runs bucket and what it must not.
var bucketRules = map[string]struct{ may, mayNot []access }{
	"worker": {
		may: []access{
			rd(runObj("run.json")), rd(runObj("plan.json")), rd(runObj("cancel")), rd(runObj("shards/0.done")),
			list(runObj("slices/0/")),
			wr(runObj("leases/0")), wr(runObj("slices/0/3.pb")), wr(runObj("shards/0.done")), wr(runObj("shards/0.failed")),
		},
		mayNot: []access{
			wr(runObj("plan.json")), wr(runObj("run.json")), wr(runObj("cancel")), wr(runObj("live.json")), wr(runObj("report.json")),
			wr(runObj("merged/0.pb")), wr("active/" + run), wr("idempotency/abc"),
			rd("idempotency/abc"), list("idempotency/"), list("active/"),
		},
	},
	"aggregator": {
		may: []access{
			list("active/"), rd("active/" + run), wr("active/" + run),
			rd(runObj("run.json")), rd(runObj("plan.json")), rd(runObj("slices/0/3.pb")), rd(runObj("leases/0")),
			list("runs/"), list(runObj("slices/")), list(runObj("merged/")), list(runObj("shards/")), list(runObj("leases/")),
			wr(runObj("live.json")), wr(runObj("report.json")), wr(runObj("summary.txt")), wr(runObj("report.html")),
			wr(runObj("report.csv")), wr(runObj("junit.xml")), wr(runObj("histogram.hdr")), wr(runObj("merged/0.pb")),
			wr(runObj("cancel")),
			wr("index/nightly%2Fbert/" + run + ".json"), wr("index-slices/nightly%2Fbert/" + run + ".ndjson"),
			rd("latest/nightly%2Fbert/pass.json"), wr("latest/nightly%2Fbert/pass.json"), list("index/nightly%2Fbert/"),
			rd("index/nightly%2Fbert/" + run + ".json"),
		},
		mayNot: []access{
			wr(runObj("plan.json")), wr(runObj("run.json")), wr(runObj("leases/0")), wr(runObj("slices/0/3.pb")),
			wr(runObj("shards/0.done")), wr("idempotency/abc"), rd("idempotency/abc"),
		},
	},
	"trigger": {
		may: []access{
			wr(runObj("plan.json")), wr(runObj("run.json")), wr("active/" + run), wr(runObj("cancel")), wr("idempotency/abc"),
			rd(runObj("live.json")), rd(runObj("leases/0")), list(runObj("leases/")), list("active/"),
			list("index/"), list("index/nightly%2Fbert/"), rd("index/nightly%2Fbert/" + run + ".json"), rd("latest/nightly%2Fbert/last.json"),
		},
		mayNot: []access{wr("other/x"), rd("other/x"), wr("index/nightly%2Fbert/" + run + ".json"), wr("latest/nightly%2Fbert/pass.json")},
	},
}

// Which predefined Cloud Storage roles allow which ops. A write here is a
// create, a replacement at a generation or a deletion: objectCreator, which
// cannot delete, cannot renew a lease or rewrite live.json (a replacement
// deletes the old generation), so it counts for no write.
var storageRoles = map[string][]op{
	"roles/storage.objectViewer":             {opRead, opList},
	"roles/storage.objectCreator":            nil,
	"roles/storage.objectUser":               {opRead, opList, opWrite},
	"roles/storage.objectAdmin":              {opRead, opList, opWrite},
	"roles/storage.admin":                    {opRead, opList, opWrite},
	"roles/storage.legacyObjectReader":       {opRead},
	"roles/storage.legacyBucketReader":       {opList},
	"roles/storage.legacyBucketWriter":       {opList, opWrite},
	"roles/storage.legacyBucketOwner":        {opList, opWrite},
	"roles/storage.legacyObjectOwner":        {opRead, opWrite},
	"roles/storage.insightsCollectorService": nil,
}

// grant is one role binding on the runs bucket.
type grant struct {
	addr, account, role string
	condition           string // "" = unconditional
}

// evalContext evaluates the module's locals with the runs bucket named
// testBucket and every variable at its default (project "proj"). Locals
// that need anything else stay out of it.
func evalContext(m *module) *hcl.EvalContext {
	vars := map[string]cty.Value{"project": cty.StringVal("proj")}
	for _, b := range m.ofType("variable") {
		if a, ok := b.Body.Attributes["default"]; ok {
			if v, ok := constant(a.Expr); ok {
				vars[b.Labels[0]] = v
			}
		}
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var": cty.ObjectVal(vars),
			"google_storage_bucket": cty.ObjectVal(map[string]cty.Value{
				"runs": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(testBucket)}),
			}),
		},
		Functions: map[string]function.Function{
			"join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc, "format": stdlib.FormatFunc,
			"lower": stdlib.LowerFunc, "tostring": stdlib.MakeToFunc(cty.String),
		},
	}
	pending := map[string]hclsyntax.Expression{}
	for _, b := range m.ofType("locals") {
		for name, a := range b.Body.Attributes {
			pending[name] = a.Expr
		}
	}
	locals := map[string]cty.Value{}
	for progress := true; progress; {
		progress = false
		ctx.Variables["local"] = cty.ObjectVal(locals)
		for name, expr := range pending {
			v, diags := expr.Value(ctx)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

// bucketGrants are the role bindings on the runs bucket, with their
// conditions evaluated.
func bucketGrants(m *module) ([]grant, []string) {
	ctx := evalContext(m)
	var out []grant
	var probs []string
	for _, b := range m.resources("google_storage_bucket_iam_member") {
		onRuns := false
		if a, ok := b.Body.Attributes["bucket"]; ok {
			for _, t := range a.Expr.Variables() {
				onRuns = onRuns || refersTo(t, "google_storage_bucket", "runs")
			}
		}
		if !onRuns {
			continue
		}
		g := grant{addr: address(b)}
		if a, ok := b.Body.Attributes["member"]; ok {
			for _, t := range a.Expr.Variables() {
				if t.RootName() == "google_service_account" && len(t) >= 2 {
					if at, ok := t[1].(hcl.TraverseAttr); ok {
						g.account = at.Name
					}
				}
			}
		}
		if g.account == "" {
			probs = append(probs, g.addr+": member is not one of this module's service accounts")
			continue
		}
		role, ok := literalString(b.Body, "role")
		if !ok {
			probs = append(probs, g.addr+": role is not a constant")
			continue
		}
		g.role = role
		if c := child(b, "condition"); c != nil {
			a, ok := c.Body.Attributes["expression"]
			if !ok {
				probs = append(probs, g.addr+": condition without expression")
				continue
			}
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() || !v.IsWhollyKnown() || v.Type() != cty.String {
				probs = append(probs, fmt.Sprintf("%s: condition cannot be evaluated offline: %v", g.addr, diags))
				continue
			}
			g.condition = v.AsString()
		}
		out = append(out, g)
	}
	return out, probs
}

// allowed reports whether some grant to account allows a, and which.
func allowed(grants []grant, account string, a access) (string, error) {
	req := celRequest{name: "projects/_/buckets/" + testBucket + "/objects/" + a.name, typ: "storage.googleapis.com/Object"}
	if a.op == opList {
		req = celRequest{name: "projects/_/buckets/" + testBucket, typ: "storage.googleapis.com/Bucket",
			attrs: map[string]string{"storage.googleapis.com/objectListPrefix": a.name}}
	}
	for _, g := range grants {
		if g.account != account || !slices.Contains(storageRoles[g.role], a.op) {
			continue
		}
		if g.condition == "" {
			return g.addr, nil
		}
		ok, err := evalCEL(g.condition, req)
		if err != nil {
			return "", fmt.Errorf("%s: condition %q: %w", g.addr, g.condition, err)
		}
		if ok {
			return g.addr, nil
		}
	}
	return "", nil
}

// checkBucketGrants: each component can do on the runs bucket what it
// does (bucketRules.may) and nothing of bucketRules.mayNot; every grant is
// to a component the rules know, with a known role.
func checkBucketGrants(m *module) []string {
	grants, probs := bucketGrants(m)
	accounts := map[string]bool{}
	for _, g := range grants {
		accounts[g.account] = true
		if _, ok := storageRoles[g.role]; !ok {
			probs = append(probs, fmt.Sprintf("%s: role %s is not one this check knows", g.addr, g.role))
		}
		if _, ok := bucketRules[g.account]; !ok {
			probs = append(probs, fmt.Sprintf("%s: no rule says what google_service_account.%s may do in the runs bucket", g.addr, g.account))
		}
	}
	names := make([]string, 0, len(accounts))
	for a := range accounts {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, account := range names {
		rules := bucketRules[account]
		for _, a := range rules.may {
			by, err := allowed(grants, account, a)
			switch {
			case err != nil:
				probs = append(probs, err.Error())
			case by == "":
				probs = append(probs, fmt.Sprintf("google_service_account.%s cannot %s, which it must", account, a))
			}
		}
		for _, a := range rules.mayNot {
			by, err := allowed(grants, account, a)
			switch {
			case err != nil:
				probs = append(probs, err.Error())
			case by != "":
				probs = append(probs, fmt.Sprintf("google_service_account.%s may %s (through %s)", account, a, by))
			}
		}
	}
	return probs
}

// celRequest is what a condition sees of a request.
type celRequest struct {
	name, typ string
	attrs     map[string]string
}

// evalCEL evaluates the subset of CEL the module's conditions use:
// resource.name and resource.type, api.getAttribute(key, default), the
// string methods startsWith, endsWith and extract, == and !=, !, && and ||,
// parentheses and string literals. Anything else is an error, so that a
// condition this check cannot judge fails it rather than passing.
func evalCEL(expr string, req celRequest) (bool, error) {
	toks, err := celTokens(expr)
	if err != nil {
		return false, err
	}
	p := &celParser{toks: toks, req: req}
	v, err := p.or()
	if err != nil {
		return false, err
	}
	if p.pos != len(p.toks) {
		return false, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if v.isStr {
		return false, errors.New("condition is a string, not a bool")
	}
	return v.b, nil
}

// celValue is a string or a bool.
type celValue struct {
	isStr bool
	s     string
	b     bool
}

func celTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, `"`+b.String())
			i = j + 1
		case strings.HasPrefix(s[i:], "||"), strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "=="), strings.HasPrefix(s[i:], "!="):
			toks = append(toks, s[i:i+2])
			i += 2
		case strings.ContainsRune("().,!", rune(c)):
			toks = append(toks, string(c))
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

type celParser struct {
	toks []string
	pos  int
	req  celRequest
}

func (p *celParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *celParser) next() string { t := p.peek(); p.pos++; return t }

func (p *celParser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (p *celParser) or() (celValue, error) { return p.binary("||", p.and) }

func (p *celParser) and() (celValue, error) { return p.binary("&&", p.unary) }

func (p *celParser) binary(op string, operand func() (celValue, error)) (celValue, error) {
	v, err := operand()
	if err != nil {
		return v, err
	}
	for p.peek() == op {
		p.next()
		w, err := operand()
		if err != nil {
			return w, err
		}
		if v.isStr || w.isStr {
			return v, fmt.Errorf("%s of a string", op)
		}
		if op == "||" {
			v.b = v.b || w.b
		} else {
			v.b = v.b && w.b
		}
	}
	return v, nil
}

func (p *celParser) unary() (celValue, error) {
	if p.peek() == "!" {
		p.next()
		v, err := p.unary()
		if err != nil || v.isStr {
			return v, errors.Join(err, errors.New("! of a string"))
		}
		return celValue{b: !v.b}, nil
	}
	v, err := p.postfix()
	if err != nil {
		return v, err
	}
	if op := p.peek(); op == "==" || op == "!=" {
		p.next()
		w, err := p.postfix()
		if err != nil {
			return w, err
		}
		if v.isStr != w.isStr {
			return v, fmt.Errorf("%s between a string and a bool", op)
		}
		eq := v == w
		return celValue{b: eq == (op == "==")}, nil
	}
	return v, nil
}

// postfix is a literal, a parenthesized expression, resource.name,
// resource.type or api, followed by method calls.
func (p *celParser) postfix() (celValue, error) {
	var v celValue
	recv := "" // a namespace without a value: "api"
	switch t := p.next(); {
	case t == "(":
		var err error
		if v, err = p.or(); err != nil {
			return v, err
		}
		if err := p.expect(")"); err != nil {
			return v, err
		}
	case strings.HasPrefix(t, `"`):
		v = celValue{isStr: true, s: t[1:]}
	case t == "resource":
		if err := p.expect("."); err != nil {
			return v, err
		}
		switch f := p.next(); f {
		case "name":
			v = celValue{isStr: true, s: p.req.name}
		case "type":
			v = celValue{isStr: true, s: p.req.typ}
		default:
			return v, fmt.Errorf("unknown attribute resource.%s", f)
		}
	case t == "api":
		recv = "api"
	default:
		return v, fmt.Errorf("unexpected %q", t)
	}
	for p.peek() == "." {
		p.next()
		method := p.next()
		if err := p.expect("("); err != nil {
			return v, err
		}
		var args []string
		for p.peek() != ")" {
			a, err := p.or()
			if err != nil {
				return v, err
			}
			if !a.isStr {
				return v, fmt.Errorf("%s: argument is not a string", method)
			}
			args = append(args, a.s)
			if p.peek() == "," {
				p.next()
			}
		}
		p.next()
		switch {
		case recv == "api" && method == "getAttribute" && len(args) == 2:
			s, ok := p.req.attrs[args[0]]
			if !ok {
				s = args[1]
			}
			v, recv = celValue{isStr: true, s: s}, ""
		case recv != "" || !v.isStr || len(args) != 1:
			return v, fmt.Errorf("unsupported call %s(%q)", method, args)
		case method == "startsWith":
			v = celValue{b: strings.HasPrefix(v.s, args[0])}
		case method == "endsWith":
			v = celValue{b: strings.HasSuffix(v.s, args[0])}
		case method == "extract":
			v = celValue{isStr: true, s: extract(v.s, args[0])}
		default:
			return v, fmt.Errorf("unsupported method %s", method)
		}
	}
	if recv != "" {
		return v, fmt.Errorf("%s is not a value", recv)
	}
	return v, nil
}

// extract is IAM's resource-name extract(): the part of s between the
// template's text before {…} and its text after it (to the end when none),
// "" when s does not contain them.
func extract(s, template string) string {
	open, close := strings.Index(template, "{"), strings.Index(template, "}")
	if open < 0 || close < open {
		return ""
	}
	before, after := template[:open], template[close+1:]
	i := strings.Index(s, before)
	if i < 0 {
		return ""
	}
	rest := s[i+len(before):]
	if after == "" {
		return rest
	}
	j := strings.Index(rest, after)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

func TestEvalCEL(t *testing.T) {
	t.Parallel()
	req := celRequest{name: "projects/_/buckets/B/objects/runs/r1/leases/0", typ: "storage.googleapis.com/Object",
		attrs: map[string]string{"storage.googleapis.com/objectListPrefix": "runs/x/"}}
	tests := []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`resource.name.startsWith("projects/_/buckets/B/objects/runs/")`, true, false},
		{`resource.name.endsWith("/plan.json")`, false, false},
		{`resource.name.extract("objects/runs/{run}/leases/") != ""`, true, false},
		{`resource.name.extract("objects/runs/{run}/slices/") != ""`, false, false},
		{`resource.name.extract("objects/runs/{run}/leases/") == "r1"`, true, false},
		{`resource.name.extract("/objects/{name}") == "runs/r1/leases/0"`, true, false},
		{`!(resource.name.endsWith("/0")) || false_ident`, false, true},
		{`api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("runs/")`, true, false},
		{`api.getAttribute("other", "d") == "d"`, true, false},
		{`resource.type == "storage.googleapis.com/Object" && !resource.name.endsWith("/run.json")`, true, false},
		{`resource.name.matches("x")`, false, true},
		{`resource.name`, false, true},
		{`resource.name.startsWith("a") ||`, false, true},
		{`resource.name.startsWith("unterminated)`, false, true},
	}
	for _, tt := range tests {
		got, err := evalCEL(tt.expr, req)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("evalCEL(%s) = %v, %v; want %v (error %v)", tt.expr, got, err, tt.want, tt.wantErr)
		}
	}
}

// checkPrivateNodes: nodes are private unless the operator says otherwise:
// var.private_nodes defaults to true, and every cluster's
// private_cluster_config (or its dynamic block) turns private nodes on.
func checkPrivateNodes(m *module) []string {
	var probs []string
	for _, b := range m.ofType("variable") {
		if b.Labels[0] != "private_nodes" {
			continue
		}
		if v, ok := b.Body.Attributes["default"]; !ok {
			probs = append(probs, "var.private_nodes: no default")
		} else if d, ok := constant(v.Expr); !ok || d.Type() != cty.Bool || !d.True() {
			probs = append(probs, "var.private_nodes: default is not true (nodes would get public addresses)")
		}
	}
	for _, c := range m.resources("google_container_cluster") {
		body := (*hclsyntax.Body)(nil)
		if pc := child(c, "private_cluster_config"); pc != nil {
			body = pc.Body
		}
		for _, d := range c.Body.Blocks {
			if d.Type == "dynamic" && len(d.Labels) == 1 && d.Labels[0] == "private_cluster_config" {
				if content := child(d, "content"); content != nil {
					body = content.Body
				}
			}
		}
		if body == nil {
			probs = append(probs, address(c)+": no private_cluster_config")
			continue
		}
		if v, ok := literalBool(body, "enable_private_nodes"); !ok || !v {
			probs = append(probs, address(c)+": private_cluster_config does not set enable_private_nodes = true")
		}
	}
	return probs
}

// checkNetworkPolicyEnforced: every cluster runs GKE Dataplane V2, which
// enforces deploy/k8s's NetworkPolicies (a Standard cluster without it
// would ignore them).
func checkNetworkPolicyEnforced(m *module) []string {
	var probs []string
	for _, c := range m.resources("google_container_cluster") {
		if v, ok := literalString(c.Body, "datapath_provider"); !ok || v != "ADVANCED_DATAPATH" {
			probs = append(probs, address(c)+`: datapath_provider is not "ADVANCED_DATAPATH": NetworkPolicies would not be enforced`)
		}
	}
	return probs
}

// privateGoogleAPIs is private.googleapis.com's range, which deploy/k8s's
// NetworkPolicies allow for Google APIs.
var privateGoogleAPIs = map[string]bool{"199.36.153.8": true, "199.36.153.9": true, "199.36.153.10": true, "199.36.153.11": true}

// checkGoogleAPIsZone: the network resolves *.googleapis.com to
// private.googleapis.com, the only Google API addresses the workers'
// NetworkPolicy allows.
func checkGoogleAPIsZone(m *module) []string {
	var probs []string
	zone := false
	for _, z := range m.resources("google_dns_managed_zone") {
		name, _ := literalString(z.Body, "dns_name")
		vis, _ := literalString(z.Body, "visibility")
		if name == "googleapis.com." && vis == "private" {
			zone = true
		}
	}
	if !zone {
		probs = append(probs, `no private google_dns_managed_zone for "googleapis.com.": workers would resolve Google APIs to addresses their NetworkPolicy refuses`)
	}
	var a, cname bool
	for _, r := range m.resources("google_dns_record_set") {
		name, _ := literalString(r.Body, "name")
		typ, _ := literalString(r.Body, "type")
		v, ok := r.Body.Attributes["rrdatas"]
		if !ok {
			continue
		}
		data, ok := constant(v.Expr)
		if !ok || !data.CanIterateElements() {
			probs = append(probs, address(r)+": rrdatas is not a constant list")
			continue
		}
		var rr []string
		for it := data.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() == cty.String {
				rr = append(rr, e.AsString())
			}
		}
		switch {
		case name == "private.googleapis.com." && typ == "A":
			a = len(rr) > 0
			for _, ip := range rr {
				if !privateGoogleAPIs[ip] {
					probs = append(probs, fmt.Sprintf("%s: %s is not private.googleapis.com (199.36.153.8/30)", address(r), ip))
				}
			}
		case name == "*.googleapis.com." && typ == "CNAME":
			cname = slices.Equal(rr, []string{"private.googleapis.com."})
			if !cname {
				probs = append(probs, fmt.Sprintf("%s: *.googleapis.com points at %v, want private.googleapis.com.", address(r), rr))
			}
		}
	}
	if zone && !a {
		probs = append(probs, "no A record for private.googleapis.com.")
	}
	if zone && !cname {
		probs = append(probs, "no CNAME *.googleapis.com. -> private.googleapis.com.")
	}
	return probs
}

// nodeRoles are the container roles a node holds by nature, project-wide.
var nodeRoles = []string{"roles/container.defaultNodeServiceAccount", "roles/container.nodeServiceAccount"}

// checkScopedDeploy: project-level GKE roles (other than a node's) are
// conditioned on a cluster's resource name, and registry roles are
// granted on the repository, never on the project: Cloud Build deploys to
// one cluster and pushes to one registry.
func checkScopedDeploy(m *module) []string {
	ctx := evalContext(m)
	var probs []string
	for _, b := range m.resources("google_project_iam_member") {
		role, ok := literalString(b.Body, "role")
		if !ok {
			for _, s := range stringLiterals(b) {
				if strings.HasPrefix(s, "roles/container.") || strings.HasPrefix(s, "roles/artifactregistry.") {
					probs = append(probs, fmt.Sprintf("%s: role %s through an expression: grant it in a resource of its own, with its condition", address(b), s))
				}
			}
			continue
		}
		switch {
		case strings.HasPrefix(role, "roles/artifactregistry."):
			probs = append(probs, fmt.Sprintf("%s: %s on the whole project; grant it on the repository", address(b), role))
		case strings.HasPrefix(role, "roles/container.") && !slices.Contains(nodeRoles, role):
			c := child(b, "condition")
			if c == nil {
				probs = append(probs, fmt.Sprintf("%s: %s on every cluster of the project; condition it on the cluster's resource name", address(b), role))
				continue
			}
			a, ok := c.Body.Attributes["expression"]
			v, diags := cty.NilVal, hcl.Diagnostics(nil)
			if ok {
				v, diags = a.Expr.Value(ctx)
			}
			if !ok || diags.HasErrors() || !v.IsWhollyKnown() || v.Type() != cty.String || !strings.Contains(v.AsString(), "/clusters/") {
				probs = append(probs, fmt.Sprintf("%s: %s: the condition names no cluster (resource.name .../clusters/NAME)", address(b), role))
			}
		}
	}
	return probs
}

// checkTriggerIdentity: the deployed function takes callers from the
// identity token Cloud Run verified, so that runs record their submitter
// and only it (and the admins) may cancel them.
func checkTriggerIdentity(m *module) []string {
	var probs []string
	for _, b := range m.resources("google_cloudfunctions2_function") {
		sc := child(b, "service_config")
		var obj *hclsyntax.ObjectConsExpr
		if sc != nil {
			if env, ok := sc.Body.Attributes["environment_variables"]; ok {
				obj, _ = env.Expr.(*hclsyntax.ObjectConsExpr)
			}
		}
		trusted := false
		if obj != nil {
			for _, item := range obj.Items {
				k, ok1 := constant(item.KeyExpr)
				v, ok2 := constant(item.ValueExpr)
				if ok1 && ok2 && k.Type() == cty.String && k.AsString() == "CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY" &&
					v.Type() == cty.String && v.AsString() == "true" {
					trusted = true
				}
			}
		}
		if !trusted {
			probs = append(probs, address(b)+`: CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY is not "true": runs would not record who submitted them, and anyone could cancel any run`)
		}
	}
	return probs
}

// TestBlastRadiusChecksFail feeds each check of the cloud's blast radius a
// module that breaks its rule (and one that keeps it).
func TestBlastRadiusChecksFail(t *testing.T) {
	t.Parallel()
	const bucket = `
resource "google_storage_bucket" "runs" { name = "b" }
resource "google_service_account" "worker" { account_id = "w" }
locals {
  p = "projects/_/buckets/${google_storage_bucket.runs.name}/objects/"
  read = "resource.name.startsWith(\"${local.p}runs/\") || api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"runs/\")"
  write = join(" || ", [for d in ["leases", "slices", "shards"] : "resource.name.extract(\"${local.p}runs/{run}/${d}/\") != \"\""])
}
resource "google_storage_bucket_iam_member" "worker_read" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.worker.member
  condition {
    title      = "r"
    expression = local.read
  }
}
`
	workerWrite := func(role, expr string) string {
		s := bucket + `
resource "google_storage_bucket_iam_member" "worker_write" {
  bucket = google_storage_bucket.runs.name
  role   = "` + role + `"
  member = google_service_account.worker.member`
		if expr != "" {
			s += `
  condition {
    title      = "w"
    expression = ` + expr + `
  }`
		}
		return s + "\n}\n"
	}
	tests := []snippetCase{
		{"worker writes its own objects only", checkBucketGrants, workerWrite("roles/storage.objectUser", "local.write"), ""},
		{"worker may write the plan (runs/ prefix)", checkBucketGrants, workerWrite("roles/storage.objectUser", "local.read"),
			"google_service_account.worker may write runs/" + run + "/plan.json"},
		{"worker may write anything (no condition)", checkBucketGrants, workerWrite("roles/storage.objectAdmin", ""),
			"google_service_account.worker may write runs/" + run + "/run.json"},
		{"worker may write the plan (endsWith)", checkBucketGrants, workerWrite("roles/storage.objectUser", `"!resource.name.endsWith(\"/run.json\")"`),
			"may write runs/" + run + "/plan.json"},
		{"worker cannot renew its lease (objectCreator)", checkBucketGrants, workerWrite("roles/storage.objectCreator", "local.write"),
			"cannot write runs/" + run + "/leases/0"},
		{"worker cannot write its slices", checkBucketGrants, workerWrite("roles/storage.objectUser", `"resource.name.extract(\"${local.p}runs/{run}/leases/\") != \"\""`),
			"cannot write runs/" + run + "/slices/0/3.pb"},
		{"worker reads idempotency records", checkBucketGrants, workerWrite("roles/storage.objectViewer", `"resource.name.startsWith(\"${local.p}idempotency/\")"`),
			"may read idempotency/abc"},
		{"condition out of the evaluable subset", checkBucketGrants, workerWrite("roles/storage.objectUser", `"resource.name.matches(\"x\")"`),
			"matches"},
		{"unknown account", checkBucketGrants, `
resource "google_storage_bucket" "runs" { name = "b" }
resource "google_service_account" "intruder" { account_id = "i" }
resource "google_storage_bucket_iam_member" "m" {
  bucket = google_storage_bucket.runs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.intruder.member
}`, "no rule says what google_service_account.intruder may do"},

		{"private nodes", checkPrivateNodes, `
variable "private_nodes" {
  type    = bool
  default = true
}
resource "google_container_cluster" "c" {
  dynamic "private_cluster_config" {
    for_each = var.private_nodes ? [1] : []
    content { enable_private_nodes = true }
  }
}`, ""},
		{"public nodes by default", checkPrivateNodes, `
variable "private_nodes" {
  type    = bool
  default = false
}`, "default is not true"},
		{"cluster without private config", checkPrivateNodes, `
resource "google_container_cluster" "c" { name = "c" }`, "no private_cluster_config"},

		{"Dataplane V2", checkNetworkPolicyEnforced, `
resource "google_container_cluster" "c" { datapath_provider = "ADVANCED_DATAPATH" }`, ""},
		{"NetworkPolicies not enforced", checkNetworkPolicyEnforced, `
resource "google_container_cluster" "c" { name = "c" }`, "NetworkPolicies would not be enforced"},

		{"googleapis zone", checkGoogleAPIsZone, `
resource "google_dns_managed_zone" "z" {
  dns_name   = "googleapis.com."
  visibility = "private"
}
resource "google_dns_record_set" "a" {
  name    = "private.googleapis.com."
  type    = "A"
  rrdatas = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}
resource "google_dns_record_set" "c" {
  name    = "*.googleapis.com."
  type    = "CNAME"
  rrdatas = ["private.googleapis.com."]
}`, ""},
		{"no googleapis zone", checkGoogleAPIsZone, `
resource "google_dns_managed_zone" "z" {
  dns_name   = "example.com."
  visibility = "private"
}`, `no private google_dns_managed_zone for "googleapis.com."`},
		{"googleapis on other addresses", checkGoogleAPIsZone, `
resource "google_dns_managed_zone" "z" {
  dns_name   = "googleapis.com."
  visibility = "private"
}
resource "google_dns_record_set" "a" {
  name    = "private.googleapis.com."
  type    = "A"
  rrdatas = ["10.0.0.1"]
}
resource "google_dns_record_set" "c" {
  name    = "*.googleapis.com."
  type    = "CNAME"
  rrdatas = ["private.googleapis.com."]
}`, "10.0.0.1 is not private.googleapis.com"},

		{"deploy scoped to the cluster", checkScopedDeploy, `
variable "region" {
  type    = string
  default = "europe-west1"
}
resource "google_project_iam_member" "d" {
  role   = "roles/container.developer"
  member = google_service_account.build.member
  condition {
    title      = "c"
    expression = "resource.name == \"projects/p/locations/${var.region}/clusters/cicada\""
  }
}
resource "google_project_iam_member" "n" { role = "roles/container.defaultNodeServiceAccount" }`, ""},
		{"deploy to every cluster", checkScopedDeploy, `
resource "google_project_iam_member" "d" {
  role   = "roles/container.developer"
  member = google_service_account.build.member
}`, "roles/container.developer on every cluster of the project"},
		{"deploy condition names no cluster", checkScopedDeploy, `
resource "google_project_iam_member" "d" {
  role   = "roles/container.developer"
  member = google_service_account.build.member
  condition {
    title      = "t"
    expression = "request.time < timestamp(\"2030-01-01T00:00:00Z\")"
  }
}`, "the condition names no cluster"},
		{"deploy role in a for_each", checkScopedDeploy, `
resource "google_project_iam_member" "d" {
  for_each = toset(["roles/container.developer", "roles/logging.logWriter"])
  role     = each.value
}`, "through an expression"},
		{"registry on the project", checkScopedDeploy, `
resource "google_project_iam_member" "r" { role = "roles/artifactregistry.writer" }`, "grant it on the repository"},

		{"trigger trusts the platform", checkTriggerIdentity, `
resource "google_cloudfunctions2_function" "f" {
  service_config {
    environment_variables = { CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY = "true" }
  }
}`, ""},
		{"trigger records no submitter", checkTriggerIdentity, `
resource "google_cloudfunctions2_function" "f" {
  service_config {
    environment_variables = { CICADA_TRIGGER_BUCKET = "b" }
  }
}`, "CICADA_TRIGGER_TRUST_PLATFORM_IDENTITY is not \"true\""},
	}
	runSnippets(t, tests)
}
