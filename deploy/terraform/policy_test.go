// Package terraform_test checks deploy/terraform offline: no provider and no
// cloud is reachable where the tests run, so instead of terraform validate it
// parses every .tf file with hashicorp/hcl and enforces the deployment's
// policy (dead letters and retries on subscriptions, no public principals,
// a private bucket with lifecycle rules, every service account used, every
// variable and output documented, no basic roles, Secret Manager access
// granted secret by secret and never on the project, project-wide roles
// only from a short list with a reason each, node pools on Spot VMs by
// default), and that the names the
// Terraform gives agree with the code (Pub/Sub ids, the function's entry
// point, the trigger's environment variables), and (rails_test.go) that
// the trigger and the workers get one operator's policy (local.policy,
// through output cloudbuild_substitutions and deploy/k8s/params.env) whose
// default allow-list names services on their ports. Each check is a function of
// the parsed files, fed broken snippets in table tests so that each is seen
// to fail. TestTerraformFmt runs terraform fmt -check when terraform is
// installed (and fails without it when CI=true).
package terraform_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	fntrigger "github.com/cicadaload/cicada/functions/trigger"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/trigger"
)

// module is a set of parsed .tf files: their top-level blocks in file order.
type module struct {
	blocks []*hclsyntax.Block
}

// parseFiles parses name -> HCL source pairs into a module.
func parseFiles(files map[string][]byte) (*module, error) {
	p := hclparse.NewParser()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	m := &module{}
	for _, n := range names {
		f, diags := p.ParseHCL(files[n], n)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", n, diags)
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			return nil, fmt.Errorf("parse %s: not native HCL syntax", n)
		}
		m.blocks = append(m.blocks, body.Blocks...)
	}
	return m, nil
}

// parseDir parses every .tf file of dir.
func parseDir(dir string) (*module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list .tf files of %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		files[filepath.Base(p)] = b
	}
	return parseFiles(files)
}

// resources are the module's resource blocks of type typ.
func (m *module) resources(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == "resource" && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

// ofType are the module's top-level blocks of a kind: "variable", "output".
func (m *module) ofType(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// address names a block as Terraform does: google_x.name, var.x, output.x.
func address(b *hclsyntax.Block) string {
	switch {
	case b.Type == "resource" && len(b.Labels) == 2:
		return b.Labels[0] + "." + b.Labels[1]
	case b.Type == "data" && len(b.Labels) == 2:
		return "data." + b.Labels[0] + "." + b.Labels[1]
	case b.Type == "variable" && len(b.Labels) == 1:
		return "var." + b.Labels[0]
	case len(b.Labels) > 0:
		return b.Type + "." + strings.Join(b.Labels, ".")
	}
	return b.Type
}

// child returns b's first nested block of type typ, or nil.
func child(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// constant evaluates expr without any variables: ok only for a literal (or
// an expression of literals), known and not null.
func constant(expr hclsyntax.Expression) (cty.Value, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, false
	}
	return v, true
}

// literalString is the value of attribute name of body when it is a
// constant string.
func literalString(body *hclsyntax.Body, name string) (string, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return "", false
	}
	v, ok := constant(a.Expr)
	if !ok || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// literalBool is the value of attribute name of body when it is a constant
// bool.
func literalBool(body *hclsyntax.Body, name string) (value, ok bool) {
	a, found := body.Attributes[name]
	if !found {
		return false, false
	}
	v, ok := constant(a.Expr)
	if !ok || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// stringLiterals are the literal strings written anywhere in b (template
// parts included), except inside validation blocks: a variable's
// validation may name what it refuses.
func stringLiterals(b *hclsyntax.Block) []string {
	var out []string
	var walk func(body *hclsyntax.Body)
	walk = func(body *hclsyntax.Body) {
		for _, a := range body.Attributes {
			_ = hclsyntax.VisitAll(a.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
				if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() && !lit.Val.IsNull() {
					out = append(out, lit.Val.AsString())
				}
				return nil
			})
		}
		for _, c := range body.Blocks {
			if c.Type == "validation" {
				continue
			}
			walk(c.Body)
		}
	}
	walk(b.Body)
	return out
}

// traversals are the references (var.x, google_x.y.z, ...) made anywhere in b.
func traversals(b *hclsyntax.Block) []hcl.Traversal {
	var out []hcl.Traversal
	var walk func(body *hclsyntax.Body)
	walk = func(body *hclsyntax.Body) {
		for _, a := range body.Attributes {
			out = append(out, a.Expr.Variables()...)
		}
		for _, c := range body.Blocks {
			walk(c.Body)
		}
	}
	walk(b.Body)
	return out
}

// refersTo reports whether t is a reference to resource typ.name (with any
// index or attribute after it).
func refersTo(t hcl.Traversal, typ, name string) bool {
	if t.RootName() != typ || len(t) < 2 {
		return false
	}
	a, ok := t[1].(hcl.TraverseAttr)
	return ok && a.Name == name
}

// A check returns one line per problem it finds in a module.
type check func(*module) []string

// deadLetterExempt are the subscriptions without a dead-letter policy of
// their own, by resource name: the one that reads the dead-letter topic
// (its dead letters would have nowhere to go).
var deadLetterExempt = map[string]bool{"dead_letter_inspect": true}

// checkSubscriptions: every subscription has a dead_letter_policy naming a
// dead-letter topic, and a retry_policy; the exempted one must read a topic
// that the others use as their dead-letter topic.
func checkSubscriptions(m *module) []string {
	var probs []string
	deadTopics := map[string]bool{}
	var exempted []*hclsyntax.Block
	for _, b := range m.resources("google_pubsub_subscription") {
		if deadLetterExempt[b.Labels[1]] {
			exempted = append(exempted, b)
			continue
		}
		dl := child(b, "dead_letter_policy")
		if dl == nil {
			probs = append(probs, address(b)+": no dead_letter_policy block")
		} else if a, ok := dl.Body.Attributes["dead_letter_topic"]; !ok {
			probs = append(probs, address(b)+": dead_letter_policy without dead_letter_topic")
		} else {
			for _, t := range a.Expr.Variables() {
				if t.RootName() == "google_pubsub_topic" && len(t) >= 2 {
					if at, ok := t[1].(hcl.TraverseAttr); ok {
						deadTopics[at.Name] = true
					}
				}
			}
		}
		if child(b, "retry_policy") == nil {
			probs = append(probs, address(b)+": no retry_policy block")
		}
	}
	for _, b := range exempted {
		a, ok := b.Body.Attributes["topic"]
		reads := false
		if ok {
			for _, t := range a.Expr.Variables() {
				for dt := range deadTopics {
					reads = reads || refersTo(t, "google_pubsub_topic", dt)
				}
			}
		}
		if !reads {
			probs = append(probs, address(b)+": exempt from dead lettering, but does not read the dead-letter topic")
		}
	}
	return probs
}

// publicPrincipals are the IAM members that mean everyone.
var publicPrincipals = []string{"allUsers", "allAuthenticatedUsers"}

// checkNoPublicPrincipals: no literal allUsers or allAuthenticatedUsers
// anywhere (an IAM member, a variable's default, a local), so no binding can
// be public whichever way its member is spelled.
func checkNoPublicPrincipals(m *module) []string {
	var probs []string
	for _, b := range m.blocks {
		for _, s := range stringLiterals(b) {
			if slices.Contains(publicPrincipals, strings.TrimSpace(s)) {
				probs = append(probs, fmt.Sprintf("%s: public principal %q", address(b), s))
			}
		}
	}
	return probs
}

// checkBuckets: every bucket has uniform bucket-level access, enforced
// public access prevention and at least one lifecycle rule, and no
// versioning (the pipeline's generation preconditions assume none).
func checkBuckets(m *module) []string {
	var probs []string
	for _, b := range m.resources("google_storage_bucket") {
		if v, ok := literalBool(b.Body, "uniform_bucket_level_access"); !ok || !v {
			probs = append(probs, address(b)+": uniform_bucket_level_access is not true")
		}
		if v, ok := literalString(b.Body, "public_access_prevention"); !ok || v != "enforced" {
			probs = append(probs, address(b)+`: public_access_prevention is not "enforced"`)
		}
		if child(b, "lifecycle_rule") == nil {
			probs = append(probs, address(b)+": no lifecycle_rule")
		}
		if vb := child(b, "versioning"); vb != nil {
			if v, ok := literalBool(vb.Body, "enabled"); !ok || v {
				probs = append(probs, address(b)+": versioning is not off")
			}
		}
	}
	return probs
}

// checkServiceAccountsUsed: every service account is referenced by another
// block (a grant, a function, a cluster), so none is created and forgotten.
func checkServiceAccountsUsed(m *module) []string {
	var probs []string
	for _, sa := range m.resources("google_service_account") {
		name := sa.Labels[1]
		used := false
		for _, b := range m.blocks {
			if b == sa {
				continue
			}
			for _, t := range traversals(b) {
				if refersTo(t, "google_service_account", name) {
					used = true
				}
			}
		}
		if !used {
			probs = append(probs, address(sa)+": never referenced")
		}
	}
	return probs
}

// checkVariables: every variable has a non-empty description and a type.
func checkVariables(m *module) []string {
	var probs []string
	for _, b := range m.ofType("variable") {
		if d, ok := literalString(b.Body, "description"); !ok || strings.TrimSpace(d) == "" {
			probs = append(probs, address(b)+": no description")
		}
		if _, ok := b.Body.Attributes["type"]; !ok {
			probs = append(probs, address(b)+": no type")
		}
	}
	return probs
}

// checkOutputs: every output has a non-empty description.
func checkOutputs(m *module) []string {
	var probs []string
	for _, b := range m.ofType("output") {
		if d, ok := literalString(b.Body, "description"); !ok || strings.TrimSpace(d) == "" {
			probs = append(probs, address(b)+": no description")
		}
	}
	return probs
}

// basicRoles are the project-wide roles that grant (nearly) everything.
var basicRoles = []string{"roles/owner", "roles/editor", "roles/viewer"}

// authoritativeProjectIAM are resources that replace a project's IAM
// policy (or a role's members) instead of adding one member: applying them
// would remove grants this module does not know about.
var authoritativeProjectIAM = []string{"google_project_iam_policy", "google_project_iam_binding"}

// checkRoles: no basic role anywhere, and no authoritative project IAM.
func checkRoles(m *module) []string {
	var probs []string
	for _, b := range m.blocks {
		for _, s := range stringLiterals(b) {
			if slices.Contains(basicRoles, strings.TrimSpace(s)) {
				probs = append(probs, fmt.Sprintf("%s: basic role %q", address(b), s))
			}
		}
		if b.Type == "resource" && slices.Contains(authoritativeProjectIAM, b.Labels[0]) {
			probs = append(probs, address(b)+": authoritative project IAM")
		}
	}
	return probs
}

// broadIAM are the IAM resources that grant on a whole project, folder or
// organization.
var broadIAM = []string{
	"google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy",
	"google_folder_iam_member", "google_folder_iam_binding", "google_folder_iam_policy",
	"google_organization_iam_member", "google_organization_iam_binding", "google_organization_iam_policy",
}

// secretAccessor is the one role a secret is granted with.
const secretAccessor = "roles/secretmanager.secretAccessor"

// checkSecretAccess: no Secret Manager role on a whole project (folder,
// organization), which would open every secret in it; on a secret, only
// secretAccessor, added member by member (a binding or a policy would
// drop the secret's other grants).
func checkSecretAccess(m *module) []string {
	var probs []string
	for _, b := range m.blocks {
		if b.Type != "resource" || len(b.Labels) != 2 {
			continue
		}
		kind := b.Labels[0]
		roles := rolesOf(b)
		switch {
		case slices.Contains(broadIAM, kind):
			for _, r := range roles {
				if strings.HasPrefix(r, "roles/secretmanager.") {
					scope, _, _ := strings.Cut(strings.TrimPrefix(kind, "google_"), "_iam_")
					probs = append(probs, fmt.Sprintf("%s: %s on the whole %s: grant it on each secret (google_secret_manager_secret_iam_member)",
						address(b), r, scope))
				}
			}
		case kind == "google_secret_manager_secret_iam_binding" || kind == "google_secret_manager_secret_iam_policy":
			probs = append(probs, address(b)+": authoritative IAM on a secret would drop its other grants: use google_secret_manager_secret_iam_member")
		case kind == "google_secret_manager_secret_iam_member":
			if len(roles) != 1 || roles[0] != secretAccessor {
				probs = append(probs, fmt.Sprintf("%s: roles %q, want only %s", address(b), roles, secretAccessor))
			}
		}
	}
	return probs
}

// rolesOf are the literal roles ("roles/...") written in b.
func rolesOf(b *hclsyntax.Block) []string {
	var out []string
	for _, s := range stringLiterals(b) {
		if s = strings.TrimSpace(s); strings.HasPrefix(s, "roles/") {
			out = append(out, s)
		}
	}
	return out
}

// projectRoles are the roles granted on the whole project, each for a
// reason that no narrower resource serves.
var projectRoles = map[string]string{
	"roles/container.defaultNodeServiceAccount": "GKE nodes write logs and metrics of the project",
	"roles/container.developer":                 "Cloud Build applies deploy/k8s to the cluster",
	"roles/logging.logWriter":                   "builds write their logs to the project",
	"roles/aiplatform.user":                     "the worker calls Vertex AI endpoints, which have no IAM of their own in the stable API (optional)",
}

// checkProjectRoles: every role granted on the whole project (folder,
// organization) is one of projectRoles, written as a literal so that it
// can be checked; everything else is granted on its one resource.
func checkProjectRoles(m *module) []string {
	var probs []string
	for _, b := range m.blocks {
		if b.Type != "resource" || len(b.Labels) != 2 || !slices.Contains(broadIAM, b.Labels[0]) {
			continue
		}
		roles := rolesOf(b)
		if len(roles) == 0 {
			probs = append(probs, address(b)+": no literal role: a project-wide grant must say which role it is")
		}
		for _, r := range roles {
			if _, ok := projectRoles[r]; !ok {
				probs = append(probs, fmt.Sprintf("%s: %s granted on the whole project: grant it on the resource it concerns", address(b), r))
			}
		}
	}
	return probs
}

// codeNames are the names the Terraform must agree on with the code.
type codeNames struct {
	pubsub     []string // topic and subscription ids (shared/bus)
	entryPoint string   // the function's entry point
	env        []string // environment variables the trigger reads
	requireEnv []string // of which the deployment must set these
}

// cicadaNames are codeNames taken from the code itself.
func cicadaNames() codeNames {
	env, err := config.Names(&trigger.Env{})
	if err != nil {
		panic(err) // a struct tag the tests cannot read: nothing to check against
	}
	return codeNames{
		pubsub:     []string{bus.ShardsTopic, bus.ShardsSub, bus.EventsTopic, bus.EventsSub, bus.DeadTopic, bus.DeadSub},
		entryPoint: fntrigger.EntryPoint,
		env:        env,
		requireEnv: []string{"CICADA_TRIGGER_BUCKET", "CICADA_TRIGGER_PROJECT", "CICADA_TRIGGER_ALLOWED_TARGETS"},
	}
}

// checkNames returns a check that the Pub/Sub ids are exactly the code's,
// and that each function's entry point and environment variables are ones
// the trigger reads (a misspelt variable is silently ignored by envconfig).
func checkNames(want codeNames) check {
	return func(m *module) []string {
		var probs []string
		var got []string
		for _, typ := range []string{"google_pubsub_topic", "google_pubsub_subscription"} {
			for _, b := range m.resources(typ) {
				n, ok := literalString(b.Body, "name")
				if !ok {
					probs = append(probs, address(b)+": name is not a constant")
					continue
				}
				if !slices.Contains(want.pubsub, n) {
					probs = append(probs, fmt.Sprintf("%s: name %q is none of shared/bus's ids %v", address(b), n, want.pubsub))
				}
				got = append(got, n)
			}
		}
		for _, id := range want.pubsub {
			if !slices.Contains(got, id) {
				probs = append(probs, fmt.Sprintf("no topic or subscription %q (shared/bus)", id))
			}
		}
		for _, b := range m.resources("google_cloudfunctions2_function") {
			if bc := child(b, "build_config"); bc == nil {
				probs = append(probs, address(b)+": no build_config")
			} else if ep, _ := literalString(bc.Body, "entry_point"); ep != want.entryPoint {
				probs = append(probs, fmt.Sprintf("%s: entry_point %q, want %q", address(b), ep, want.entryPoint))
			}
			var obj *hclsyntax.ObjectConsExpr
			if sc := child(b, "service_config"); sc != nil {
				if env, ok := sc.Body.Attributes["environment_variables"]; ok {
					obj, _ = env.Expr.(*hclsyntax.ObjectConsExpr)
				}
			}
			if obj == nil {
				probs = append(probs, address(b)+": no literal service_config.environment_variables map")
				continue
			}
			var keys []string
			for _, item := range obj.Items {
				k, ok := constant(item.KeyExpr)
				if !ok || k.Type() != cty.String {
					probs = append(probs, address(b)+": environment variable name is not a constant")
					continue
				}
				keys = append(keys, k.AsString())
				if !slices.Contains(want.env, k.AsString()) {
					probs = append(probs, fmt.Sprintf("%s: environment variable %s is not read by the trigger", address(b), k.AsString()))
				}
			}
			for _, r := range want.requireEnv {
				if !slices.Contains(keys, r) {
					probs = append(probs, fmt.Sprintf("%s: environment variable %s is not set", address(b), r))
				}
			}
		}
		return probs
	}
}

// checkSpotPools: every node pool runs on Spot VMs by default, its
// node_config's spot a literal true or a variable whose default is true:
// the workers hand their shards over on a preemption notice, so Spot
// capacity costs no slice.
func checkSpotPools(m *module) []string {
	var probs []string
	defaults := map[string]bool{}
	for _, v := range m.ofType("variable") {
		if d, ok := literalBool(v.Body, "default"); ok && len(v.Labels) == 1 {
			defaults[v.Labels[0]] = d
		}
	}
	for _, b := range m.resources("google_container_node_pool") {
		nc := child(b, "node_config")
		if nc == nil {
			probs = append(probs, address(b)+": no node_config")
			continue
		}
		a, ok := nc.Body.Attributes["spot"]
		if !ok {
			probs = append(probs, address(b)+": node_config has no spot: worker nodes are Spot VMs by default")
			continue
		}
		if v, ok := literalBool(nc.Body, "spot"); ok {
			if !v {
				probs = append(probs, address(b)+": node_config.spot is false")
			}
			continue
		}
		vars := a.Expr.Variables()
		var name hcl.TraverseAttr
		ok = false
		if len(vars) == 1 && vars[0].RootName() == "var" && len(vars[0]) == 2 {
			name, ok = vars[0][1].(hcl.TraverseAttr)
		}
		if !ok {
			probs = append(probs, address(b)+": node_config.spot is neither a literal nor a variable")
			continue
		}
		if d, found := defaults[name.Name]; !found || !d {
			probs = append(probs, fmt.Sprintf("%s: node_config.spot = var.%s, whose default is not true", address(b), name.Name))
		}
	}
	return probs
}

// policy is every check, by name.
var policy = []struct {
	name  string
	check check
}{
	{"subscriptions have dead letters and retries", checkSubscriptions},
	{"no public principals", checkNoPublicPrincipals},
	{"buckets are private with lifecycle rules", checkBuckets},
	{"service accounts are used", checkServiceAccountsUsed},
	{"variables are documented", checkVariables},
	{"outputs are documented", checkOutputs},
	{"no basic roles", checkRoles},
	{"secrets are granted one by one", checkSecretAccess},
	{"project-wide roles are the listed ones", checkProjectRoles},
	{"node pools on Spot VMs by default", checkSpotPools},
	{"names agree with the code", checkNames(cicadaNames())},
	// The cloud's blast radius (grants_test.go).
	{"runs bucket: each component writes only its own objects", checkBucketGrants},
	{"private nodes by default", checkPrivateNodes},
	{"NetworkPolicies are enforced", checkNetworkPolicyEnforced},
	{"Google APIs on private.googleapis.com", checkGoogleAPIsZone},
	{"deploys scoped to the cluster and the registry", checkScopedDeploy},
	{"the trigger records its callers", checkTriggerIdentity},
}

// TestPolicy runs every check on the real module: each must find nothing.
func TestPolicy(t *testing.T) {
	m, err := parseDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range policy {
		t.Run(p.name, func(t *testing.T) {
			if probs := p.check(m); len(probs) > 0 {
				t.Errorf("%d problems:\n%s", len(probs), strings.Join(probs, "\n"))
			}
		})
	}
}

// TestPolicyNotVacuous makes sure the checks above had something to look
// at: a module whose files moved away would otherwise pass them all.
func TestPolicyNotVacuous(t *testing.T) {
	m, err := parseDir(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind string
		got  int
		want int // at least
	}{
		{"google_pubsub_subscription", len(m.resources("google_pubsub_subscription")), 3},
		{"google_storage_bucket", len(m.resources("google_storage_bucket")), 1},
		{"google_service_account", len(m.resources("google_service_account")), 5},
		{"google_cloudfunctions2_function", len(m.resources("google_cloudfunctions2_function")), 1},
		{"google_cloud_scheduler_job", len(m.resources("google_cloud_scheduler_job")), 1},
		{"google_container_cluster", len(m.resources("google_container_cluster")), 1},
		{"google_storage_bucket_iam_member", len(m.resources("google_storage_bucket_iam_member")), 5},
		{"google_dns_record_set", len(m.resources("google_dns_record_set")), 2},
		{"google_secret_manager_secret_iam_member", len(m.resources("google_secret_manager_secret_iam_member")), 1},
		{"google_project_iam_member", len(m.resources("google_project_iam_member")), 4},
		{"google_container_node_pool", len(m.resources("google_container_node_pool")), 1},
		{"variable", len(m.ofType("variable")), 10},
		{"output", len(m.ofType("output")), 4},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if tt.got < tt.want {
				t.Errorf("%d %s blocks, want at least %d", tt.got, tt.kind, tt.want)
			}
		})
	}
}

// TestChecksFail feeds each check a small module that breaks its rule (and
// one that keeps it), so that a check that cannot fail is caught.
func TestChecksFail(t *testing.T) {
	names := codeNames{
		pubsub:     []string{"t", "s"},
		entryPoint: "Trigger",
		env:        []string{"CICADA_TRIGGER_BUCKET", "CICADA_LOG_LEVEL"},
		requireEnv: []string{"CICADA_TRIGGER_BUCKET"},
	}
	tests := []snippetCase{
		{"subscription kept", checkSubscriptions, `
resource "google_pubsub_topic" "dead" { name = "d" }
resource "google_pubsub_subscription" "s" {
  dead_letter_policy { dead_letter_topic = google_pubsub_topic.dead.id }
  retry_policy { minimum_backoff = "1s" }
}
resource "google_pubsub_subscription" "dead_letter_inspect" { topic = google_pubsub_topic.dead.id }`, ""},
		{"subscription without dead letters", checkSubscriptions, `
resource "google_pubsub_subscription" "s" {
  retry_policy {}
}`, "google_pubsub_subscription.s: no dead_letter_policy"},
		{"dead letter policy without topic", checkSubscriptions, `
resource "google_pubsub_subscription" "s" {
  dead_letter_policy { max_delivery_attempts = 5 }
  retry_policy {}
}`, "without dead_letter_topic"},
		{"subscription without retries", checkSubscriptions, `
resource "google_pubsub_topic" "dead" { name = "d" }
resource "google_pubsub_subscription" "s" {
  dead_letter_policy { dead_letter_topic = google_pubsub_topic.dead.id }
}`, "google_pubsub_subscription.s: no retry_policy"},
		{"exempt subscription on another topic", checkSubscriptions, `
resource "google_pubsub_topic" "dead" { name = "d" }
resource "google_pubsub_topic" "work" { name = "w" }
resource "google_pubsub_subscription" "s" {
  dead_letter_policy { dead_letter_topic = google_pubsub_topic.dead.id }
  retry_policy {}
}
resource "google_pubsub_subscription" "dead_letter_inspect" { topic = google_pubsub_topic.work.id }`, "does not read the dead-letter topic"},

		{"named principals", checkNoPublicPrincipals, `
resource "google_cloud_run_service_iam_member" "m" { member = "user:a@example.com" }`, ""},
		{"allUsers member", checkNoPublicPrincipals, `
resource "google_cloud_run_service_iam_member" "m" { member = "allUsers" }`, `google_cloud_run_service_iam_member.m: public principal "allUsers"`},
		{"allAuthenticatedUsers in members", checkNoPublicPrincipals, `
resource "google_storage_bucket_iam_binding" "b" { members = ["user:a@example.com", "allAuthenticatedUsers"] }`, "allAuthenticatedUsers"},
		{"allUsers as a variable default", checkNoPublicPrincipals, `
variable "invokers" {
  type    = list(string)
  default = ["allUsers"]
}`, `var.invokers: public principal "allUsers"`},
		{"allUsers refused by a validation", checkNoPublicPrincipals, `
variable "invokers" {
  type = list(string)
  validation {
    condition     = !contains(var.invokers, "allUsers")
    error_message = "no"
  }
}`, ""},

		{"private bucket", checkBuckets, `
resource "google_storage_bucket" "b" {
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning { enabled = false }
  lifecycle_rule {
    condition { age = 1 }
    action { type = "Delete" }
  }
}`, ""},
		{"bucket with ACLs", checkBuckets, `
resource "google_storage_bucket" "b" {
  uniform_bucket_level_access = false
  public_access_prevention    = "enforced"
  lifecycle_rule {}
}`, "google_storage_bucket.b: uniform_bucket_level_access is not true"},
		{"bucket with inherited public access", checkBuckets, `
resource "google_storage_bucket" "b" {
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"
  lifecycle_rule {}
}`, "public_access_prevention"},
		{"bucket without lifecycle", checkBuckets, `
resource "google_storage_bucket" "b" {
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}`, "no lifecycle_rule"},
		{"versioned bucket", checkBuckets, `
resource "google_storage_bucket" "b" {
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  lifecycle_rule {}
  versioning { enabled = true }
}`, "versioning is not off"},

		{"service account used", checkServiceAccountsUsed, `
resource "google_service_account" "w" { account_id = "w" }
resource "google_pubsub_topic_iam_member" "m" { member = google_service_account.w.member }`, ""},
		{"service account used by a count index", checkServiceAccountsUsed, `
resource "google_service_account" "w" { count = 1 }
output "o" {
  description = "d"
  value       = google_service_account.w[0].email
}`, ""},
		{"service account unused", checkServiceAccountsUsed, `
resource "google_service_account" "w" { account_id = "w" }
resource "google_service_account" "x" { account_id = "x" }
resource "google_pubsub_topic_iam_member" "m" { member = google_service_account.x.member }`, "google_service_account.w: never referenced"},
		{"service account referring only to itself", checkServiceAccountsUsed, `
resource "google_service_account" "w" { description = google_service_account.w.account_id }`, "never referenced"},

		{"documented variable", checkVariables, `
variable "v" {
  description = "what v is"
  type        = string
}`, ""},
		{"variable without description", checkVariables, `
variable "v" { type = string }`, "var.v: no description"},
		{"variable with an empty description", checkVariables, `
variable "v" {
  description = "  "
  type        = string
}`, "var.v: no description"},
		{"variable without type", checkVariables, `
variable "v" { description = "what v is" }`, "var.v: no type"},

		{"documented output", checkOutputs, `
output "o" {
  description = "what o is"
  value       = 1
}`, ""},
		{"output without description", checkOutputs, `
output "o" { value = 1 }`, "output.o: no description"},

		{"predefined roles", checkRoles, `
resource "google_project_iam_member" "m" { role = "roles/logging.logWriter" }`, ""},
		{"owner", checkRoles, `
resource "google_project_iam_member" "m" { role = "roles/owner" }`, `google_project_iam_member.m: basic role "roles/owner"`},
		{"editor in a for_each", checkRoles, `
resource "google_project_iam_member" "m" {
  for_each = toset(["roles/logging.logWriter", "roles/editor"])
  role     = each.value
}`, `basic role "roles/editor"`},
		{"authoritative project binding", checkRoles, `
resource "google_project_iam_binding" "b" { role = "roles/pubsub.publisher" }`, "authoritative project IAM"},

		{"secret granted on itself", checkSecretAccess, `
resource "google_secret_manager_secret_iam_member" "s" {
  for_each  = toset(var.ids)
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.w.member
}
resource "google_project_iam_member" "p" { role = "roles/logging.logWriter" }`, ""},
		{"project-wide secretAccessor", checkSecretAccess, `
resource "google_project_iam_member" "p" {
  project = var.project
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.w.member
}`, `google_project_iam_member.p: roles/secretmanager.secretAccessor on the whole project`},
		{"secretAccessor in a project for_each", checkSecretAccess, `
resource "google_project_iam_member" "p" {
  for_each = toset(["roles/logging.logWriter", "roles/secretmanager.secretAccessor"])
  role     = each.value
}`, "roles/secretmanager.secretAccessor on the whole project"},
		{"organization-wide secret viewer", checkSecretAccess, `
resource "google_organization_iam_member" "o" { role = "roles/secretmanager.viewer" }`, "roles/secretmanager.viewer on the whole organization"},
		{"admin of a secret", checkSecretAccess, `
resource "google_secret_manager_secret_iam_member" "s" {
  secret_id = "k"
  role      = "roles/secretmanager.admin"
}`, `want only roles/secretmanager.secretAccessor`},
		{"authoritative binding on a secret", checkSecretAccess, `
resource "google_secret_manager_secret_iam_binding" "s" {
  secret_id = "k"
  role      = "roles/secretmanager.secretAccessor"
  members   = ["serviceAccount:w@p.iam.gserviceaccount.com"]
}`, "authoritative IAM on a secret"},

		{"listed project roles", checkProjectRoles, `
resource "google_project_iam_member" "p" {
  for_each = toset(["roles/container.developer", "roles/logging.logWriter"])
  role     = each.value
}
resource "google_project_iam_member" "v" {
  count = var.vertex ? 1 : 0
  role  = "roles/aiplatform.user"
}
resource "google_storage_bucket_iam_member" "b" { role = "roles/storage.objectUser" }`, ""},
		{"unlisted project role", checkProjectRoles, `
resource "google_project_iam_member" "p" { role = "roles/storage.objectAdmin" }`, "google_project_iam_member.p: roles/storage.objectAdmin granted on the whole project"},
		{"project role from a variable", checkProjectRoles, `
resource "google_project_iam_member" "p" { role = var.role }`, "no literal role"},

		{"spot pool by a variable", checkSpotPools, `
variable "spot" {
  type    = bool
  default = true
}
resource "google_container_node_pool" "p" {
  node_config { spot = var.spot }
}`, ""},
		{"spot pool by a literal", checkSpotPools, `
resource "google_container_node_pool" "p" {
  node_config { spot = true }
}`, ""},
		{"pool without spot", checkSpotPools, `
resource "google_container_node_pool" "p" {
  node_config { machine_type = "e2-standard-4" }
}`, "google_container_node_pool.p: node_config has no spot"},
		{"spot off by default", checkSpotPools, `
variable "spot" {
  type    = bool
  default = false
}
resource "google_container_node_pool" "p" {
  node_config { spot = var.spot }
}`, "node_config.spot = var.spot, whose default is not true"},
		{"spot from an expression", checkSpotPools, `
resource "google_container_node_pool" "p" {
  node_config { spot = local.spot }
}`, "node_config.spot is neither a literal nor a variable"},
		{"spot off", checkSpotPools, `
resource "google_container_node_pool" "p" {
  node_config { spot = false }
}`, "node_config.spot is false"},

		{"names agree", checkNames(names), `
resource "google_pubsub_topic" "t" { name = "t" }
resource "google_pubsub_subscription" "s" { name = "s" }
resource "google_cloudfunctions2_function" "f" {
  build_config { entry_point = "Trigger" }
  service_config {
    environment_variables = {
      CICADA_TRIGGER_BUCKET = google_storage_bucket.b.name
      CICADA_LOG_LEVEL      = "info"
    }
  }
}`, ""},
		{"topic id not the code's", checkNames(names), `
resource "google_pubsub_topic" "t" { name = "t2" }
resource "google_pubsub_subscription" "s" { name = "s" }`, `name "t2" is none of`},
		{"topic missing", checkNames(names), `
resource "google_pubsub_subscription" "s" { name = "s" }`, `no topic or subscription "t"`},
		{"wrong entry point", checkNames(names), `
resource "google_pubsub_topic" "t" { name = "t" }
resource "google_pubsub_subscription" "s" { name = "s" }
resource "google_cloudfunctions2_function" "f" {
  build_config { entry_point = "Serve" }
  service_config {
    environment_variables = { CICADA_TRIGGER_BUCKET = "b" }
  }
}`, `entry_point "Serve", want "Trigger"`},
		{"misspelt environment variable", checkNames(names), `
resource "google_pubsub_topic" "t" { name = "t" }
resource "google_pubsub_subscription" "s" { name = "s" }
resource "google_cloudfunctions2_function" "f" {
  build_config { entry_point = "Trigger" }
  service_config {
    environment_variables = {
      CICADA_TRIGGER_BUCKET = "b"
      CICADA_TRIGGER_BUCKIT = "b"
    }
  }
}`, "CICADA_TRIGGER_BUCKIT is not read by the trigger"},
		{"required environment variable missing", checkNames(names), `
resource "google_pubsub_topic" "t" { name = "t" }
resource "google_pubsub_subscription" "s" { name = "s" }
resource "google_cloudfunctions2_function" "f" {
  build_config { entry_point = "Trigger" }
  service_config {
    environment_variables = { CICADA_LOG_LEVEL = "info" }
  }
}`, "CICADA_TRIGGER_BUCKET is not set"},
	}
	runSnippets(t, tests)
}

// TestCicadaNames guards the list of the trigger's environment, taken
// from trigger.Env: an empty or wrong list would make checkNames
// meaningless.
func TestCicadaNames(t *testing.T) {
	n := cicadaNames()
	for _, want := range []string{"CICADA_TRIGGER_BUCKET", "CICADA_TRIGGER_PROJECT", "CICADA_TRIGGER_ALLOWED_TARGETS", "CICADA_TRIGGER_MAX_RATE", "CICADA_LOG_LEVEL"} {
		if !slices.Contains(n.env, want) {
			t.Errorf("trigger environment %v lacks %s", n.env, want)
		}
	}
	if n.entryPoint != "Trigger" {
		t.Errorf("entry point = %q, want Trigger", n.entryPoint)
	}
}

// TestParseError makes sure a file that does not parse is an error, not an
// empty module that every check passes.
func TestParseError(t *testing.T) {
	_, err := parseFiles(map[string][]byte{"broken.tf": []byte(`resource "x" "y" {`)})
	if err == nil {
		t.Fatal("parse of an unclosed block: no error")
	}
	if !strings.Contains(err.Error(), "broken.tf") {
		t.Errorf("error %q does not name the file", err)
	}
}

// TestTerraformFmt runs terraform fmt -check on this directory. Without
// terraform it skips, except in CI (CI=true), where a missing terraform
// must not pass for formatted files.
func TestTerraformFmt(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("terraform is not on PATH (CI=true): install it to check formatting: %v", err)
		}
		t.Skip("terraform is not on PATH")
	}
	cmd := exec.Command(bin, "fmt", "-check", "-recursive", "-diff", "-no-color", ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Errorf("terraform fmt -check: files need formatting (run terraform fmt -recursive deploy/terraform):\n%s", out.String())
	case err != nil:
		t.Fatalf("run terraform fmt: %v\n%s", err, out.String())
	}
}

// snippetCase is an HCL snippet judged by one check: want is a substring
// of one of its problems, "" for none.
type snippetCase struct {
	name  string
	check check
	src   string
	want  string
}

// runSnippets parses each case's snippet on its own and asserts what its
// check finds.
func runSnippets(t *testing.T, tests []snippetCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseFiles(map[string][]byte{"snippet.tf": []byte(tt.src)})
			if err != nil {
				t.Fatal(err)
			}
			probs := tt.check(m)
			if tt.want == "" {
				if len(probs) > 0 {
					t.Errorf("problems = %q, want none", probs)
				}
				return
			}
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems = %q, want one containing %q", probs, tt.want)
			}
		})
	}
}
