package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"

	rails "github.com/cicadaload/cicada/shared/policy"
)

// The operator's policy is one value per rule, held by the trigger and by
// the workers alike (policy.tf): local.policy holds a value for every
// variable of the policy, the trigger's environment takes each from it,
// and output cloudbuild_substitutions hands the same to Cloud Build, which
// gives them to the workers (deploy/k8s/params.env). These checks hold
// that chain, the allow-list's default to named services on their ports,
// and the defaults to deploy/k8s/params.env's.

// policyKeys are the keys local.policy must hold: the variables of the
// policy's Rules (after the component's prefix), and MAX_SHARDS, which the
// workers read as MAX_PLAN_SHARDS.
func policyKeys() []string {
	return append(rails.Names(), "MAX_SHARDS")
}

// localsOf are the module's locals, by name.
func localsOf(m *module) map[string]hclsyntax.Expression {
	out := map[string]hclsyntax.Expression{}
	for _, b := range m.ofType("locals") {
		for name, a := range b.Body.Attributes {
			out[name] = a.Expr
		}
	}
	return out
}

// policyItems are local.policy's items by key, or nil and a problem when
// local.policy is not an object written out key by key.
func policyItems(m *module) (map[string]hclsyntax.Expression, string) {
	expr, ok := localsOf(m)["policy"]
	if !ok {
		return nil, "no local.policy: the trigger and the workers need one source of the operator's policy"
	}
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, "local.policy is not an object written key by key"
	}
	items := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		k, ok := constant(it.KeyExpr)
		if !ok || k.Type() != cty.String {
			return nil, "local.policy: a key is not a constant"
		}
		items[k.AsString()] = it.ValueExpr
	}
	return items, ""
}

// closure is every reference expr makes, following references to locals
// into their own expressions.
func closure(expr hclsyntax.Expression, locals map[string]hclsyntax.Expression) []hcl.Traversal {
	var out []hcl.Traversal
	seen := map[string]bool{}
	var walk func(e hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		for _, t := range e.Variables() {
			out = append(out, t)
			if t.RootName() != "local" || len(t) < 2 {
				continue
			}
			if a, ok := t[1].(hcl.TraverseAttr); ok && !seen[a.Name] {
				seen[a.Name] = true
				if le, ok := locals[a.Name]; ok {
					walk(le)
				}
			}
		}
	}
	walk(expr)
	return out
}

// hasAttr reports whether t goes through attribute name.
func hasAttr(t hcl.Traversal, name string) bool {
	for _, s := range t {
		if a, ok := s.(hcl.TraverseAttr); ok && a.Name == name {
			return true
		}
	}
	return false
}

// isLocalPolicy reports whether expr is exactly local.policy.<key>.
func isLocalPolicy(expr hclsyntax.Expression, key string) bool {
	st, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(st.Traversal) != 3 || st.Traversal.RootName() != "local" {
		return false
	}
	a1, ok1 := st.Traversal[1].(hcl.TraverseAttr)
	a2, ok2 := st.Traversal[2].(hcl.TraverseAttr)
	return ok1 && ok2 && a1.Name == "policy" && a2.Name == key
}

// checkPolicyFlow returns a check that local.policy holds exactly keys;
// that the trigger's environment sets CICADA_TRIGGER_<key> to
// local.policy.<key> for each; that output cloudbuild_substitutions, the
// workers' source, is made of local.policy; and that the allow-list adds
// the cluster's services range on the listed ports.
func checkPolicyFlow(keys []string) check {
	return func(m *module) []string {
		items, prob := policyItems(m)
		if prob != "" {
			return []string{prob}
		}
		var probs []string
		for _, k := range keys {
			if _, ok := items[k]; !ok {
				probs = append(probs, fmt.Sprintf("local.policy has no %s: the trigger and the workers would each fall back to their own default", k))
			}
		}
		for k := range items {
			if !slices.Contains(keys, k) {
				probs = append(probs, fmt.Sprintf("local.policy.%s is no variable of the policy (%v)", k, keys))
			}
		}
		for _, b := range m.resources("google_cloudfunctions2_function") {
			env := map[string]hclsyntax.Expression{}
			if sc := child(b, "service_config"); sc != nil {
				if a, ok := sc.Body.Attributes["environment_variables"]; ok {
					if obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr); ok {
						for _, it := range obj.Items {
							if k, ok := constant(it.KeyExpr); ok && k.Type() == cty.String {
								env[k.AsString()] = it.ValueExpr
							}
						}
					}
				}
			}
			for _, k := range keys {
				name := "CICADA_TRIGGER_" + k
				if e, ok := env[name]; !ok || !isLocalPolicy(e, k) {
					probs = append(probs, fmt.Sprintf("%s: environment variable %s is not local.policy.%s: the workers would hold plans to another value", address(b), name, k))
				}
			}
		}
		out := false
		for _, b := range m.ofType("output") {
			if len(b.Labels) != 1 || b.Labels[0] != "cloudbuild_substitutions" {
				continue
			}
			out = true
			uses := false
			for _, t := range traversals(b) {
				if t.RootName() == "local" && hasAttr(t, "policy") {
					uses = true
				}
			}
			if !uses {
				probs = append(probs, "output.cloudbuild_substitutions does not hand local.policy to Cloud Build: the workers would not get the trigger's policy")
			}
		}
		if !out {
			probs = append(probs, "no output cloudbuild_substitutions: the workers' policy (Cloud Build's substitutions) has no source")
		}
		if e, ok := items["ALLOWED_TARGETS"]; ok {
			var cidr, ports bool
			for _, t := range closure(e, localsOf(m)) {
				cidr = cidr || (t.RootName() == "google_container_cluster" && hasAttr(t, "services_ipv4_cidr_block"))
				ports = ports || (t.RootName() == "var" && hasAttr(t, "cluster_target_ports"))
			}
			if !cidr || !ports {
				probs = append(probs, "local.policy.ALLOWED_TARGETS does not add the cluster's services range (services_ipv4_cidr_block) on var.cluster_target_ports: "+
					"the workers would refuse the in-cluster services' private addresses")
			}
		}
		return probs
	}
}

// checkAllowedTargetsDefault: every entry of var.allowed_targets's default
// that allows names its port and no wildcard: a default of
// *.svc.cluster.local (any port) lets a plan aim at the Kubernetes API
// server and kube-dns.
func checkAllowedTargetsDefault(m *module) []string {
	var probs []string
	found := false
	for _, b := range m.ofType("variable") {
		if len(b.Labels) != 1 || b.Labels[0] != "allowed_targets" {
			continue
		}
		found = true
		a, ok := b.Body.Attributes["default"]
		if !ok {
			continue // required: the operator names the targets
		}
		v, ok := constant(a.Expr)
		if !ok || !(v.Type().IsListType() || v.Type().IsTupleType()) {
			probs = append(probs, "var.allowed_targets: default is not a constant list")
			continue
		}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if ev.Type() != cty.String {
				probs = append(probs, "var.allowed_targets: default holds a non-string")
				continue
			}
			s := strings.TrimSpace(ev.AsString())
			if strings.HasPrefix(s, "!") {
				continue // a refusal narrows
			}
			if strings.Contains(s, "*") {
				probs = append(probs, fmt.Sprintf("var.allowed_targets: default %q is a wildcard: name the services, with their ports", s))
				continue
			}
			if !hasPort(s) {
				probs = append(probs, fmt.Sprintf("var.allowed_targets: default %q allows any port: name the service's ports", s))
			}
		}
	}
	if !found {
		probs = append(probs, "no variable allowed_targets")
	}
	return probs
}

// hasPort reports whether an allow-list entry names a port: host:port,
// cidr:port or [v6]:port.
func hasPort(s string) bool {
	if strings.HasPrefix(s, "[") {
		return strings.Contains(s, "]:")
	}
	return strings.Count(s, ":") == 1
}

// checkPolicyDefaults returns a check that the default of each variable
// local.policy takes a key from (all but ALLOWED_TARGETS, whose cluster
// part is known only once the cluster is) is params's value of that key:
// deploy/k8s/params.env's default, which the workers get when Cloud Build
// is not handed the key.
func checkPolicyDefaults(params map[string]string) check {
	return func(m *module) []string {
		items, prob := policyItems(m)
		if prob != "" {
			return []string{prob}
		}
		defaults := map[string]cty.Value{}
		for _, b := range m.ofType("variable") {
			if a, ok := b.Body.Attributes["default"]; ok && len(b.Labels) == 1 {
				if v, ok := constant(a.Expr); ok {
					defaults[b.Labels[0]] = v
				}
			}
		}
		keys := make([]string, 0, len(items))
		for k := range items {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var probs []string
		for _, k := range keys {
			if k == "ALLOWED_TARGETS" {
				continue
			}
			vars := items[k].Variables()
			if len(vars) != 1 || vars[0].RootName() != "var" || len(vars[0]) != 2 {
				probs = append(probs, fmt.Sprintf("local.policy.%s is not made of one variable", k))
				continue
			}
			name := vars[0][1].(hcl.TraverseAttr).Name
			d, ok := defaults[name]
			if !ok {
				probs = append(probs, fmt.Sprintf("local.policy.%s: var.%s has no constant default", k, name))
				continue
			}
			got := ""
			switch d.Type() {
			case cty.String:
				got = d.AsString()
			case cty.Number:
				got = d.AsBigFloat().Text('f', -1)
			case cty.Bool:
				got = fmt.Sprint(d.True())
			}
			if want, ok := params[k]; !ok || got != want {
				probs = append(probs, fmt.Sprintf("var.%s defaults to %q, deploy/k8s/params.env's %s to %q: the workers would hold plans to another limit than the trigger when Cloud Build is not handed it", name, got, k, want))
			}
		}
		return probs
	}
}

// readParams reads deploy/k8s/params.env's KEY=VALUE lines.
func readParams(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "k8s", "params.env"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// TestRails runs the policy checks on the real module.
func TestRails(t *testing.T) {
	t.Parallel()
	m, err := parseDir(".")
	if err != nil {
		t.Fatal(err)
	}
	params := readParams(t)
	for name, c := range map[string]check{
		"the trigger and the workers get one policy":  checkPolicyFlow(policyKeys()),
		"the allow-list's default names services":     checkAllowedTargetsDefault,
		"the limits' defaults are deploy/k8s's":       checkPolicyDefaults(params),
		"every key of the policy reaches the workers": checkParamsKeys(params),
		"local.policy holds more than the allow-list": func(m *module) []string { return minKeys(m, 10) },
	} {
		t.Run(name, func(t *testing.T) {
			if probs := c(m); len(probs) > 0 {
				t.Errorf("%d problems:\n%s", len(probs), strings.Join(probs, "\n"))
			}
		})
	}
}

// checkParamsKeys returns a check that deploy/k8s/params.env has a key for
// every key of local.policy: the way to the workers.
func checkParamsKeys(params map[string]string) check {
	return func(m *module) []string {
		items, prob := policyItems(m)
		if prob != "" {
			return []string{prob}
		}
		var probs []string
		for k := range items {
			if _, ok := params[k]; !ok {
				probs = append(probs, fmt.Sprintf("deploy/k8s/params.env has no %s: the workers cannot get local.policy.%s", k, k))
			}
		}
		sort.Strings(probs)
		return probs
	}
}

// minKeys wants local.policy to hold at least n keys, so that the checks
// above are not vacuous.
func minKeys(m *module, n int) []string {
	items, prob := policyItems(m)
	if prob != "" {
		return []string{prob}
	}
	if len(items) < n {
		return []string{fmt.Sprintf("local.policy holds %d keys, want at least %d", len(items), n)}
	}
	return nil
}

// TestRailsChecksFail feeds each check a module that breaks its rule (and
// one that keeps it).
func TestRailsChecksFail(t *testing.T) {
	t.Parallel()
	keys := []string{"ALLOWED_TARGETS", "MAX_RATE"}
	flow := checkPolicyFlow(keys)
	const cluster = `
variable "cluster_target_ports" {
  type    = list(number)
  default = [8501]
}
locals {
  services = google_container_cluster.main.ip_allocation_policy[0].services_ipv4_cidr_block
  allowed  = concat(var.allowed_targets, [for p in var.cluster_target_ports : "${local.services}:${p}"])
}`
	const function = `
resource "google_cloudfunctions2_function" "f" {
  service_config {
    environment_variables = {
      CICADA_TRIGGER_ALLOWED_TARGETS = local.policy.ALLOWED_TARGETS
      CICADA_TRIGGER_MAX_RATE        = local.policy.MAX_RATE
    }
  }
}
output "cloudbuild_substitutions" {
  description = "d"
  value       = join(";", [for k, v in local.policy : "_${k}=${v}"])
}`
	const policySrc = `
locals {
  policy = {
    ALLOWED_TARGETS = join(",", local.allowed)
    MAX_RATE        = tostring(var.max_rate)
  }
}`
	variables := func(rate, targets string) string {
		return `
variable "max_rate" {
  type    = number
  default = ` + rate + `
}
variable "allowed_targets" {
  type    = list(string)
  default = ` + targets + `
}`
	}
	params := map[string]string{"ALLOWED_TARGETS": "ALLOWED_TARGETS", "MAX_RATE": "10000"}
	tests := []snippetCase{
		{"one policy", flow, cluster + policySrc + function, ""},
		{"no local.policy", flow, cluster + function, "no local.policy"},
		{"a rule missing", flow, cluster + strings.Replace(policySrc, "    MAX_RATE        = tostring(var.max_rate)\n", "", 1) + function,
			"local.policy has no MAX_RATE"},
		{"a rule the code does not have", flow, cluster + strings.Replace(policySrc, "MAX_RATE ", "MAX_RATS ", 1) + function,
			"local.policy.MAX_RATS is no variable of the policy"},
		{"the trigger's own value", flow, cluster + policySrc + strings.Replace(function, "= local.policy.MAX_RATE", `= "10000"`, 1),
			"CICADA_TRIGGER_MAX_RATE is not local.policy.MAX_RATE"},
		{"the trigger without a rule", flow, cluster + policySrc + strings.Replace(function, "      CICADA_TRIGGER_MAX_RATE        = local.policy.MAX_RATE\n", "", 1),
			"CICADA_TRIGGER_MAX_RATE is not local.policy.MAX_RATE"},
		{"Cloud Build without the policy", flow, cluster + policySrc + strings.Replace(function, "local.policy : ", "var.other : ", 1),
			"does not hand local.policy to Cloud Build"},
		{"no output for Cloud Build", flow, cluster + policySrc + strings.Replace(function, `output "cloudbuild_substitutions"`, `output "other"`, 1),
			"no output cloudbuild_substitutions"},
		{"allow-list without the services range", flow, strings.Replace(cluster, "services_ipv4_cidr_block", "cluster_ipv4_cidr_block", 1) + policySrc + function,
			"does not add the cluster's services range"},

		{"services named with ports", checkAllowedTargetsDefault, variables("1", `["cicada-predict.cicada.svc.cluster.local:8501", "10.8.0.0/20:8500", "[fd00::/8]:443", "!10.8.0.1"]`), ""},
		{"every service of the cluster", checkAllowedTargetsDefault, variables("1", `["*.svc.cluster.local"]`),
			`default "*.svc.cluster.local" is a wildcard`},
		{"anything", checkAllowedTargetsDefault, variables("1", `["*"]`), `default "*" is a wildcard`},
		{"a service on any port", checkAllowedTargetsDefault, variables("1", `["cicada-predict.cicada.svc.cluster.local"]`),
			`default "cicada-predict.cicada.svc.cluster.local" allows any port`},
		{"a range on any port", checkAllowedTargetsDefault, variables("1", `["10.8.0.0/20"]`), `default "10.8.0.0/20" allows any port`},
		{"no allow-list", checkAllowedTargetsDefault, `variable "other" { type = string }`, "no variable allowed_targets"},

		{"defaults agree", checkPolicyDefaults(params), variables("10000", `["a:1"]`) + policySrc, ""},
		{"defaults differ", checkPolicyDefaults(params), variables("500", `["a:1"]`) + policySrc,
			`var.max_rate defaults to "500", deploy/k8s/params.env's MAX_RATE to "10000"`},
		{"default missing from params.env", checkPolicyDefaults(map[string]string{}), variables("10000", `["a:1"]`) + policySrc,
			`deploy/k8s/params.env's MAX_RATE to ""`},
		{"a rule made of an expression", checkPolicyDefaults(params), variables("10000", `["a:1"]`) + strings.Replace(policySrc, "tostring(var.max_rate)", "tostring(var.max_rate * var.shards)", 1),
			"local.policy.MAX_RATE is not made of one variable"},

		{"params.env has every key", checkParamsKeys(params), policySrc, ""},
		{"params.env lacks a key", checkParamsKeys(map[string]string{"ALLOWED_TARGETS": "x"}), policySrc, "deploy/k8s/params.env has no MAX_RATE"},
	}
	runSnippets(t, tests)
}

// TestCloudBuildSubstitutions: output cloudbuild_substitutions gives
// exactly the substitutions cloudbuild.yaml declares (Cloud Build refuses
// one it does not declare, and one it declares but is not handed keeps a
// default that is not this deployment's): the policy's among them.
func TestCloudBuildSubstitutions(t *testing.T) {
	t.Parallel()
	m, err := parseDir(".")
	if err != nil {
		t.Fatal(err)
	}
	items, prob := policyItems(m)
	if prob != "" {
		t.Fatal(prob)
	}
	given := map[string]bool{}
	for k := range items {
		given["_"+k] = true
	}
	found := false
	for _, b := range m.ofType("output") {
		if len(b.Labels) == 1 && b.Labels[0] == "cloudbuild_substitutions" {
			found = true
			for _, s := range stringLiterals(b) {
				if name, ok := strings.CutSuffix(strings.TrimPrefix(s, ";"), "="); ok && len(name) > 1 && strings.HasPrefix(name, "_") {
					given[name] = true
				}
			}
		}
	}
	if !found {
		t.Fatal("no output cloudbuild_substitutions")
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cb struct {
		Substitutions map[string]string `json:"substitutions"`
	}
	if err := yaml.Unmarshal(data, &cb); err != nil {
		t.Fatal(err)
	}
	for name := range given {
		if _, ok := cb.Substitutions[name]; !ok {
			t.Errorf("output.cloudbuild_substitutions gives %s, which cloudbuild.yaml does not declare", name)
		}
	}
	for name := range cb.Substitutions {
		if !given[name] {
			t.Errorf("cloudbuild.yaml declares %s, which output.cloudbuild_substitutions does not give", name)
		}
	}
	for _, k := range policyKeys() {
		if !given["_"+k] {
			t.Errorf("output.cloudbuild_substitutions does not give _%s: the workers would not hold plans to the trigger's %s", k, k)
		}
	}
}
