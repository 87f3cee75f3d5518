// Package k8s_test checks the manifests of deploy/k8s offline: every
// document decodes strictly into its k8s.io/api type (an unknown or
// misspelt field is an error, as the API server's strict field validation
// would make it), the kustomization renders the way Cloud Build renders it
// (scripts/render-k8s.sh, then kustomize), and the result means what the
// deployment needs: selectors that select, images from the registry,
// resources and probes, environment variables the binaries read, a grace
// period that covers a worker's hand-over, workers on Spot capacity and
// held to the operator's policy (the trigger's, from params.env),
// Workload Identity annotations, no Kubernetes API token where no pod
// needs one, NetworkPolicies that keep the components with Google
// credentials to DNS, the metadata server, Google APIs and (the worker)
// its targets, and an autoscaler on the shards backlog.
package k8s_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/cicadaload/cicada/shared/aggregate"
	"github.com/cicadaload/cicada/shared/bus"
	"github.com/cicadaload/cicada/shared/config"
	"github.com/cicadaload/cicada/shared/plan"
	"github.com/cicadaload/cicada/shared/policy"
	"github.com/cicadaload/cicada/shared/predict"
	"github.com/cicadaload/cicada/shared/worker"
)

const (
	// registryPlaceholder is the image every container names in the base;
	// render-k8s.sh points it at Artifact Registry.
	registryPlaceholder = "REGISTRY/cicada"
	// probesExempt on a Deployment explains why its containers have no
	// probes; it must say why.
	probesExempt = "cicada.dev/probes-exempt"
	wiAnnotation = "iam.gke.io/gcp-service-account"
	// tokenNeeded on a Deployment says why its pods mount a Kubernetes API
	// token; without it they must not.
	tokenNeeded = "cicada.dev/needs-service-account-token"
	binDir      = "/usr/local/bin/"
	// spotLabel is the node label of Spot capacity on GKE, Autopilot and
	// Standard alike.
	spotLabel = "cloud.google.com/gke-spot"
)

// minWorkerGrace is the least terminationGracePeriodSeconds of a worker:
// on SIGTERM it hands its shards over at the first slice boundary at least
// the hand-over lead ahead, so it may drive a whole slice (10 s by
// default) after the lead, then wait for the requests in flight (up to
// their 5 s default timeout) and write the slice.
var minWorkerGrace = int64((workerDefault("HandOverLead") + plan.DefaultSlice + plan.DefaultTimeout + time.Second) / time.Second)

// workerDefault is the default of a duration field of worker.Config, from
// its struct tag, as envconfig reads it.
func workerDefault(field string) time.Duration {
	f, ok := reflect.TypeFor[worker.Config]().FieldByName(field)
	if !ok {
		panic("worker.Config has no field " + field)
	}
	d, err := time.ParseDuration(f.Tag.Get("default"))
	if err != nil {
		panic(fmt.Sprintf("worker.Config.%s default: %v", field, err))
	}
	return d
}

// manifests is a decoded set of documents, by kind.
type manifests struct {
	namespaces  []*corev1.Namespace
	sas         []*corev1.ServiceAccount
	configMaps  []*corev1.ConfigMap
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	netpols     []*networkingv1.NetworkPolicy
	// podMonitorings are Managed Service for Prometheus's scrape
	// configurations (podmonitoring_test.go).
	podMonitorings []*podMonitoring
}

// splitDocs splits a YAML stream on its --- separators, dropping empty
// documents.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if strings.TrimSpace(stripComments(cur.String())) != "" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// strictDecode decodes one YAML document into out, refusing duplicate keys
// and fields out does not have.
func strictDecode(doc []byte, out any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// decode adds every document of data (named name in errors) to m, each
// into the type its apiVersion and kind name.
func (m *manifests) decode(name string, data []byte) error {
	for i, doc := range splitDocs(data) {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s document %d: %w", name, i, err)
		}
		var err error
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/Namespace":
			o := new(corev1.Namespace)
			err = strictDecode(doc, o)
			m.namespaces = append(m.namespaces, o)
		case "v1/ServiceAccount":
			o := new(corev1.ServiceAccount)
			err = strictDecode(doc, o)
			m.sas = append(m.sas, o)
		case "v1/ConfigMap":
			o := new(corev1.ConfigMap)
			err = strictDecode(doc, o)
			m.configMaps = append(m.configMaps, o)
		case "apps/v1/Deployment":
			o := new(appsv1.Deployment)
			err = strictDecode(doc, o)
			m.deployments = append(m.deployments, o)
		case "v1/Service":
			o := new(corev1.Service)
			err = strictDecode(doc, o)
			m.services = append(m.services, o)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			o := new(autoscalingv2.HorizontalPodAutoscaler)
			err = strictDecode(doc, o)
			m.hpas = append(m.hpas, o)
		case "networking.k8s.io/v1/NetworkPolicy":
			o := new(networkingv1.NetworkPolicy)
			err = strictDecode(doc, o)
			m.netpols = append(m.netpols, o)
		case "monitoring.googleapis.com/v1/PodMonitoring":
			o := new(podMonitoring)
			err = strictDecode(doc, o)
			m.podMonitorings = append(m.podMonitorings, o)
		default:
			err = fmt.Errorf("kind %s/%s is not one these checks know", tm.APIVersion, tm.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s document %d (%s): %w", name, i, tm.Kind, err)
		}
	}
	return nil
}

// binaryEnv is, per binary of the image, the one configuration struct its
// main reads (jobs/*/main.go).
var binaryEnv = map[string]any{
	"worker":     &worker.Env{},
	"aggregator": &aggregate.Env{},
	"predict":    &predict.Env{},
}

// runtimeEnv are variables the Go runtime reads, allowed in any container.
var runtimeEnv = []string{"GOMEMLIMIT", "GOGC", "GODEBUG", "GOMAXPROCS"}

// knownEnv returns the variable names each binary reads, generated from the
// structs by envconfig itself so that the check cannot drift from them.
func knownEnv() (map[string]map[string]bool, error) {
	known := map[string]map[string]bool{}
	for bin, spec := range binaryEnv {
		names, err := config.Names(spec)
		if err != nil {
			return nil, err
		}
		known[bin] = map[string]bool{}
		for _, k := range names {
			known[bin][k] = true
		}
		for _, k := range runtimeEnv {
			known[bin][k] = true
		}
	}
	return known, nil
}

// options tell check what the documents are: the base (images are the
// placeholder) or a rendering (images are wantImage).
type options struct {
	wantImage string // "" = the placeholder, as in deploy/k8s
	binaries  []string
	known     map[string]map[string]bool
	rendered  bool     // ConfigMaps and namespaces are present
	workerEnv []string // variables the worker container must set
}

// workerPolicyEnv are the worker's variables of the operator's policy,
// which the deployment must set as the trigger's (params.env): without
// them a worker holds plans to its defaults, whose allow-list
// (127.0.0.1) refuses every plan of a cluster.
func workerPolicyEnv() []string {
	var out []string
	for _, k := range policy.Names() {
		out = append(out, "CICADA_WORKER_"+k)
	}
	return append(out, "CICADA_WORKER_MAX_PLAN_SHARDS")
}

// workerVar is the worker's variable of params.env's key k.
func workerVar(k string) string {
	if k == "MAX_SHARDS" {
		return "CICADA_WORKER_MAX_PLAN_SHARDS" // the trigger's MAX_SHARDS
	}
	return "CICADA_WORKER_" + k
}

// check returns every problem of m, each naming its object.
func check(m *manifests, o options) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	sas := map[string]*corev1.ServiceAccount{}
	for _, sa := range m.sas {
		sas[sa.Name] = sa
		if sa.Annotations[wiAnnotation] == "" {
			fail("ServiceAccount %s: no %s annotation (Workload Identity)", sa.Name, wiAnnotation)
		}
	}
	// Terraform binds these two names (cicada/cicada-worker, cicada/cicada-aggregator).
	for _, want := range []string{"cicada-worker", "cicada-aggregator"} {
		if sas[want] == nil {
			fail("ServiceAccount %s: missing (Terraform's Workload Identity binding names it)", want)
		}
	}
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range m.configMaps {
		cms[cm.Name] = cm
	}

	deps := map[string]*appsv1.Deployment{}
	for _, d := range m.deployments {
		deps[d.Name] = d
		errs = append(errs, checkDeployment(d, sas, cms, o)...)
		// A pod with Google credentials (Workload Identity) is kept to
		// what it needs: the worker runs plans it is handed.
		if sa := sas[d.Spec.Template.Spec.ServiceAccountName]; sa != nil && sa.Annotations[wiAnnotation] != "" {
			errs = append(errs, checkNetwork(d, m.netpols)...)
		}
	}

	wd := deps["cicada-worker"]
	switch {
	case wd == nil:
		fail("Deployment cicada-worker: missing")
	case wd.Spec.Template.Spec.TerminationGracePeriodSeconds == nil:
		fail("Deployment cicada-worker: terminationGracePeriodSeconds unset (default 30 s is not a documented choice)")
	case *wd.Spec.Template.Spec.TerminationGracePeriodSeconds < minWorkerGrace:
		fail("Deployment cicada-worker: terminationGracePeriodSeconds %d < %d: SIGTERM must leave time for the hand-over lead, a slice, its requests in flight and its write",
			*wd.Spec.Template.Spec.TerminationGracePeriodSeconds, minWorkerGrace)
	}
	if wd != nil && wd.Spec.Replicas != nil {
		fail("Deployment cicada-worker: replicas is set, but the HorizontalPodAutoscaler owns the count (each apply would reset it)")
	}
	if wd != nil {
		errs = append(errs, checkWorkerChurn(wd)...)
		errs = append(errs, checkWorkerEnv(wd, cms, o.workerEnv)...)
	}

	for _, s := range m.services {
		errs = append(errs, checkService(s, m.deployments)...)
	}
	for _, pm := range m.podMonitorings {
		errs = append(errs, checkPodMonitoring(pm, m.deployments, m.netpols)...)
	}

	workerHPA := false
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		d := deps[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || d == nil {
			fail("HorizontalPodAutoscaler %s: targets %s %s %s, not a Deployment here", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if ref.Name == "cicada-worker" {
			workerHPA = true
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			fail("HorizontalPodAutoscaler %s: want 1 <= minReplicas <= maxReplicas (%d)", h.Name, h.Spec.MaxReplicas)
		}
		backlog := false
		for _, mt := range h.Spec.Metrics {
			if mt.Type != autoscalingv2.ExternalMetricSourceType || mt.External == nil {
				continue
			}
			sel := mt.External.Metric.Selector
			if mt.External.Metric.Name == "pubsub.googleapis.com|subscription|num_undelivered_messages" &&
				sel != nil && sel.MatchLabels["resource.labels.subscription_id"] == bus.ShardsSub &&
				mt.External.Target.Type == autoscalingv2.AverageValueMetricType && mt.External.Target.AverageValue != nil {
				backlog = true
			}
		}
		if !backlog {
			fail("HorizontalPodAutoscaler %s: no External metric on the backlog (num_undelivered_messages) of subscription %s with an AverageValue target", h.Name, bus.ShardsSub)
		}
	}
	if !workerHPA {
		fail("HorizontalPodAutoscaler: none targets Deployment cicada-worker")
	}

	if o.rendered && len(m.namespaces) == 0 {
		fail("Namespace: missing")
	}
	return errs
}

// checkWorkerChurn wants the workers on Spot capacity, whose preemption
// notice is a SIGTERM they hand their shards over on, and their stop grace
// (CICADA_WORKER_STOP_GRACE, the time they plan a hand-over within) no
// longer than the pod's grace period.
func checkWorkerChurn(d *appsv1.Deployment) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...))
	}
	pod := d.Spec.Template.Spec
	if !prefersSpot(pod) {
		fail("no node affinity or nodeSelector for %s=true: workers run on Spot capacity by default", spotLabel)
	}
	for _, c := range pod.Containers {
		for _, e := range c.Env {
			if e.Name != "CICADA_WORKER_STOP_GRACE" {
				continue
			}
			g, err := time.ParseDuration(e.Value)
			switch {
			case err != nil:
				fail("container %s: CICADA_WORKER_STOP_GRACE %q: %v", c.Name, e.Value, err)
			case pod.TerminationGracePeriodSeconds != nil && g > time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second:
				fail("container %s: CICADA_WORKER_STOP_GRACE %v is longer than terminationGracePeriodSeconds %d: a hand-over could be planned past the kill",
					c.Name, g, *pod.TerminationGracePeriodSeconds)
			}
		}
	}
	return errs
}

// checkWorkerEnv wants every name of want set on the worker binary's
// container, in its env or through a ConfigMap it takes whole (envFrom,
// when the ConfigMap is there to look into).
func checkWorkerEnv(d *appsv1.Deployment, cms map[string]*corev1.ConfigMap, want []string) []error {
	var errs []error
	for _, c := range d.Spec.Template.Spec.Containers {
		if len(c.Command) == 0 || c.Command[0] != binDir+"worker" {
			continue
		}
		set := map[string]bool{}
		for _, e := range c.Env {
			set[e.Name] = true
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil {
				continue
			}
			if cm := cms[ef.ConfigMapRef.Name]; cm != nil {
				for k := range cm.Data {
					set[ef.Prefix+k] = true
				}
			}
		}
		for _, w := range want {
			if !set[w] {
				errs = append(errs, fmt.Errorf("Deployment %s: container %s: no env %s: the workers must hold plans to the operator's policy, the trigger's (params.env)", d.Name, c.Name, w))
			}
		}
	}
	return errs
}

// prefersSpot reports whether pod asks for Spot nodes, required or
// preferred.
func prefersSpot(pod corev1.PodSpec) bool {
	if pod.NodeSelector[spotLabel] == "true" {
		return true
	}
	spot := func(reqs []corev1.NodeSelectorRequirement) bool {
		return slices.ContainsFunc(reqs, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == spotLabel && r.Operator == corev1.NodeSelectorOpIn && slices.Contains(r.Values, "true")
		})
	}
	if pod.Affinity == nil || pod.Affinity.NodeAffinity == nil {
		return false
	}
	na := pod.Affinity.NodeAffinity
	for _, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		if p.Weight > 0 && spot(p.Preference.MatchExpressions) {
			return true
		}
	}
	if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
		for _, term := range r.NodeSelectorTerms {
			if spot(term.MatchExpressions) {
				return true
			}
		}
	}
	return false
}

func checkDeployment(d *appsv1.Deployment, sas map[string]*corev1.ServiceAccount, cms map[string]*corev1.ConfigMap, o options) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...))
	}
	sel := d.Spec.Selector
	switch {
	case sel == nil || len(sel.MatchLabels) == 0:
		fail("selector has no matchLabels")
	case len(sel.MatchExpressions) > 0:
		fail("selector matchExpressions are not checked here; use matchLabels")
	default:
		for k, v := range sel.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				fail("selector %s=%s does not match the pod template's labels %v", k, v, d.Spec.Template.Labels)
			}
		}
	}

	pod := d.Spec.Template.Spec
	if name := pod.ServiceAccountName; name != "" && sas[name] == nil {
		fail("serviceAccountName %s is not a ServiceAccount here", name)
	}
	if pod.ServiceAccountName == "" && (pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken) {
		fail("runs as the namespace's default ServiceAccount with its token mounted; name one, or set automountServiceAccountToken: false")
	}
	if (pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken) && strings.TrimSpace(d.Annotations[tokenNeeded]) == "" {
		fail("pods mount a Kubernetes API token (automountServiceAccountToken is not false) and no %s annotation says why they need one", tokenNeeded)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot is not true (the image is distroless nonroot)")
	}

	exempt := strings.TrimSpace(d.Annotations[probesExempt]) != ""
	if len(pod.Containers) == 0 {
		fail("no containers")
	}
	for _, c := range pod.Containers {
		cfail := func(format string, args ...any) { fail("container %s: "+format, append([]any{c.Name}, args...)...) }
		if o.wantImage == "" {
			if c.Image != registryPlaceholder && !strings.HasPrefix(c.Image, registryPlaceholder+":") {
				cfail("image %q is not %s: render-k8s.sh could not point it at the registry", c.Image, registryPlaceholder)
			}
		} else if c.Image != o.wantImage {
			cfail("image %q, want %q", c.Image, o.wantImage)
		}

		bin := ""
		if len(c.Command) == 0 || !strings.HasPrefix(c.Command[0], binDir) {
			cfail("command %q does not name a binary of the image in %s", c.Command, binDir)
		} else {
			bin = strings.TrimPrefix(c.Command[0], binDir)
			if !slices.Contains(o.binaries, bin) {
				cfail("command %s: the Dockerfile builds no %q (it builds %v)", c.Command[0], bin, o.binaries)
			}
		}

		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				cfail("no %s request", r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				cfail("no %s limit", r)
			}
		}
		if !exempt {
			if c.ReadinessProbe == nil {
				cfail("no readinessProbe (or a %s annotation saying why)", probesExempt)
			}
			if c.LivenessProbe == nil {
				cfail("no livenessProbe (or a %s annotation saying why)", probesExempt)
			}
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p == nil {
				continue
			}
			if p.HTTPGet != nil && p.HTTPGet.Port.StrVal != "" && !hasPort(c, p.HTTPGet.Port.StrVal) {
				cfail("probe port %q is not a named port of the container", p.HTTPGet.Port.StrVal)
			}
			if p.GRPC != nil && !hasPortNumber(c, p.GRPC.Port) {
				cfail("gRPC probe port %d is not a port of the container", p.GRPC.Port)
			}
		}

		if bin != "" && o.known != nil {
			known := o.known[bin]
			if known == nil {
				cfail("no configuration structs listed for binary %s in this test", bin)
			}
			for _, e := range c.Env {
				if !known[e.Name] {
					cfail("env %s is not read by %s (its envconfig structs)", e.Name, bin)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					cfail("envFrom other than a ConfigMap is not checked here")
					continue
				}
				if ef.Prefix != "" {
					cfail("envFrom prefix %q hides the variable names from this check", ef.Prefix)
				}
				cm := cms[ef.ConfigMapRef.Name]
				if cm == nil {
					if o.rendered {
						cfail("envFrom ConfigMap %s does not exist", ef.ConfigMapRef.Name)
					}
					continue
				}
				for k := range cm.Data {
					if !known[k] {
						cfail("env %s (ConfigMap %s) is not read by %s (its envconfig structs)", k, cm.Name, bin)
					}
				}
			}
		}
	}
	return errs
}

// Addresses a component with Google credentials must reach: a DNS server
// and Google APIs on private.googleapis.com (Terraform's googleapis.com
// zone, deploy/terraform/gke.tf).
var (
	dnsPort       = 53
	googleAPIs    = netip.MustParseAddr("199.36.153.8")
	googleAPIPort = 443
)

// checkNetwork wants the pods of d (which hold Google credentials) under
// NetworkPolicies that limit their egress: every egress rule names its
// destinations, none the whole internet or every pod of every namespace;
// DNS and Google APIs reachable; and, as they serve no port, no ingress.
func checkNetwork(d *appsv1.Deployment, netpols []*networkingv1.NetworkPolicy) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Deployment %s: "+format, append([]any{d.Name}, args...)...))
	}
	labels := d.Spec.Template.Labels
	serves := false
	for _, c := range d.Spec.Template.Spec.Containers {
		serves = serves || len(c.Ports) > 0
	}
	var egress, ingress bool
	var dns, apis bool
	for _, np := range netpols {
		sel := np.Spec.PodSelector
		if len(sel.MatchExpressions) > 0 {
			fail("NetworkPolicy %s: podSelector matchExpressions are not checked here; use matchLabels", np.Name)
			continue
		}
		selects := true
		for k, v := range sel.MatchLabels {
			selects = selects && labels[k] == v
		}
		if !selects {
			continue
		}
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		if slices.Contains(types, networkingv1.PolicyTypeIngress) {
			ingress = true
			if !serves && len(np.Spec.Ingress) > 0 {
				fail("serves no port, but NetworkPolicy %s lets traffic in", np.Name)
			}
		}
		if !slices.Contains(types, networkingv1.PolicyTypeEgress) {
			continue
		}
		egress = true
		for i, r := range np.Spec.Egress {
			if len(r.To) == 0 {
				fail("NetworkPolicy %s: egress rule %d has no to: it lets the pods reach anything", np.Name, i)
			}
			for _, peer := range r.To {
				if peer.IPBlock != nil {
					pfx, err := netip.ParsePrefix(peer.IPBlock.CIDR)
					switch {
					case err != nil:
						fail("NetworkPolicy %s: egress rule %d: ipBlock %q: %v", np.Name, i, peer.IPBlock.CIDR, err)
					case pfx.Bits() == 0:
						fail("NetworkPolicy %s: egress rule %d: ipBlock %s is the whole internet", np.Name, i, pfx)
					default:
						if pfx.Contains(googleAPIs) && allowsPort(r.Ports, googleAPIPort) {
							apis = true
						}
					}
				}
				if peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels) == 0 && len(peer.NamespaceSelector.MatchExpressions) == 0 &&
					(peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0 && len(peer.PodSelector.MatchExpressions) == 0) {
					fail("NetworkPolicy %s: egress rule %d reaches every pod of every namespace", np.Name, i)
				}
			}
			if len(r.To) > 0 && allowsPort(r.Ports, dnsPort) {
				dns = true
			}
		}
	}
	switch {
	case !egress:
		fail("no NetworkPolicy limits its egress")
	default:
		if !dns {
			fail("its NetworkPolicies allow no DNS (port %d)", dnsPort)
		}
		if !apis {
			fail("its NetworkPolicies do not reach Google APIs (private.googleapis.com, %s, port %d)", googleAPIs, googleAPIPort)
		}
	}
	if !serves && !ingress {
		fail("serves no port, but no NetworkPolicy keeps traffic out (policyTypes Ingress)")
	}
	return errs
}

// allowsPort reports whether a rule's ports let TCP or UDP port n through
// (no ports: every port).
func allowsPort(ports []networkingv1.NetworkPolicyPort, n int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil {
			return true
		}
		lo := p.Port.IntValue()
		hi := lo
		if p.EndPort != nil {
			hi = int(*p.EndPort)
		}
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

func hasPort(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func hasPortNumber(c corev1.Container, n int32) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == n {
			return true
		}
	}
	return false
}

// checkService wants the Service's selector to select exactly one
// Deployment's pods, and its target ports to be ports of those pods.
func checkService(s *corev1.Service, deps []*appsv1.Deployment) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("Service %s: "+format, append([]any{s.Name}, args...)...))
	}
	if len(s.Spec.Selector) == 0 {
		fail("no selector")
		return errs
	}
	var match []*appsv1.Deployment
	for _, d := range deps {
		ok := true
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			match = append(match, d)
		}
	}
	if len(match) != 1 {
		fail("selector %v selects the pods of %d Deployments, want 1", s.Spec.Selector, len(match))
		return errs
	}
	for _, p := range s.Spec.Ports {
		found := false
		for _, c := range match[0].Spec.Template.Spec.Containers {
			if (p.TargetPort.StrVal != "" && hasPort(c, p.TargetPort.StrVal)) ||
				(p.TargetPort.StrVal == "" && hasPortNumber(c, targetPort(p))) {
				found = true
			}
		}
		if !found {
			fail("port %s: target %s is not a port of Deployment %s", p.Name, p.TargetPort.String(), match[0].Name)
		}
	}
	return errs
}

func targetPort(p corev1.ServicePort) int32 {
	if p.TargetPort.IntVal != 0 {
		return p.TargetPort.IntVal
	}
	return p.Port
}

// dockerBinaries returns the binaries the Dockerfile builds into
// /usr/local/bin: the last element of each package of its go build.
func dockerBinaries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	var bins []string
	for _, line := range strings.Split(joined, "\n") {
		if !strings.Contains(line, "go build") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "./") {
				bins = append(bins, path.Base(f))
			}
		}
	}
	if len(bins) == 0 {
		t.Fatal("no go build of ./... packages in the Dockerfile")
	}
	sort.Strings(bins)
	return bins
}

// readBase decodes every manifest file of deploy/k8s (not the
// kustomization, which TestKustomizationStrict decodes).
func readBase(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{}
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.decode(f, data); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func mustKnownEnv(t *testing.T) map[string]map[string]bool {
	t.Helper()
	known, err := knownEnv()
	if err != nil {
		t.Fatal(err)
	}
	return known
}

func reportErrs(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

func TestBaseManifests(t *testing.T) {
	t.Parallel()
	m := readBase(t)
	reportErrs(t, check(m, options{binaries: dockerBinaries(t), known: mustKnownEnv(t), workerEnv: workerPolicyEnv()}))
}

// readParams reads deploy/k8s/params.env: key, value pairs in order.
func readParams(t *testing.T, name string) ([]string, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	vals := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", name, line)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals
}

// TestParamsPolicy: params.env holds a key for every variable of the
// operator's policy, each replaced into the worker's variable of that
// name by the kustomization, so that the workers get the trigger's values.
func TestParamsPolicy(t *testing.T) {
	t.Parallel()
	keys, _ := readParams(t, "params.env")
	want := append(policy.Names(), "MAX_SHARDS")
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("params.env has no %s: the workers cannot get the trigger's %s", k, k)
		}
	}
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kusttypes.Kustomization
	if err := strictDecode(data, &k); err != nil {
		t.Fatal(err)
	}
	into := map[string]string{}
	for _, r := range k.Replacements {
		if r.Source == nil || r.Source.Name != "cicada-params" {
			continue
		}
		for _, tg := range r.Targets {
			if tg.Select != nil && tg.Select.Kind == "Deployment" && tg.Select.Name == "cicada-worker" {
				for _, fp := range tg.FieldPaths {
					into[strings.TrimPrefix(r.Source.FieldPath, "data.")] = fp
				}
			}
		}
	}
	for _, k := range want {
		wantPath := "spec.template.spec.containers.[name=worker].env.[name=" + workerVar(k) + "].value"
		if into[k] != wantPath {
			t.Errorf("kustomization.yaml replaces params.env's %s into %q, want %q", k, into[k], wantPath)
		}
	}
}

// TestKustomizationStrict decodes kustomization.yaml into kustomize's own
// type, unknown fields refused, and checks that every file it lists exists
// and every manifest file is listed.
func TestKustomizationStrict(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kusttypes.Kustomization
	if err := strictDecode(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if len(k.Images) != 0 {
		t.Errorf("kustomization.yaml has images:, which render-k8s.sh appends (a second images: key would be a duplicate)")
	}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(k.Resources, f) {
			t.Errorf("%s is not among the kustomization's resources", f)
		}
	}
	var listed []string
	listed = append(listed, k.Resources...)
	for _, g := range k.ConfigMapGenerator {
		listed = append(listed, g.EnvSources...)
		listed = append(listed, g.FileSources...)
	}
	for _, f := range listed {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", f, err)
		}
	}
}

// render runs scripts/render-k8s.sh as Cloud Build does, into a temporary
// folder, and builds the result with kustomize (the library kubectl's -k
// uses).
func render(t *testing.T, vars map[string]string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "k8s")
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "render-k8s.sh"))
	cmd.Env = append(os.Environ(), "OUT_DIR="+out)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render-k8s.sh: %v\n%s", err, b)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), out)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", out, err)
	}
	y, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestRendered renders the manifests with a deployment's values and checks
// the result: images at the registry with the commit tag, the values in
// the ConfigMap and the annotations, nothing of the placeholders left.
func TestRendered(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"IMAGE":          "europe-west1-docker.pkg.dev/proj-1/cicada/cicada",
		"TAG":            "0123456789abcdef0123456789abcdef01234567",
		"PROJECT_ID":     "proj-1",
		"BUCKET":         "proj-1-cicada-runs",
		"WORKER_GSA":     "cicada-worker@proj-1.iam.gserviceaccount.com",
		"AGGREGATOR_GSA": "cicada-aggregator@proj-1.iam.gserviceaccount.com",
		// The trigger's policy, as Terraform's outputs give it.
		"ALLOWED_TARGETS": "cicada-predict.cicada.svc.cluster.local:8501,cicada-predict.cicada.svc.cluster.local:8500,34.118.224.0/20:8501,34.118.224.0/20:8500",
		"MAX_RATE":        "500",
		"MAX_SHARDS":      "20",
		"MAX_TIMEOUT":     "30s",
		"LITERAL_SECRETS": "true",
		"SECRET_HEADERS":  "X-Tenant-Token",
	}
	vars["TARGET_CIDRS"] = "10.20.0.0/16, 203.0.113.7/32"
	y := render(t, vars)
	m := &manifests{}
	if err := m.decode("rendered", y); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, np := range m.netpols {
		if np.Name != "cicada-worker-targets" {
			continue
		}
		for _, r := range np.Spec.Egress {
			for _, p := range r.To {
				if p.IPBlock != nil {
					targets = append(targets, p.IPBlock.CIDR)
				}
			}
		}
	}
	if fmt.Sprint(targets) != "[10.20.0.0/16 203.0.113.7/32]" {
		t.Errorf("NetworkPolicy cicada-worker-targets allows %v, want TARGET_CIDRS [10.20.0.0/16 203.0.113.7/32]", targets)
	}
	reportErrs(t, check(m, options{
		wantImage: vars["IMAGE"] + ":" + vars["TAG"],
		binaries:  dockerBinaries(t),
		known:     mustKnownEnv(t),
		rendered:  true,
		workerEnv: workerPolicyEnv(),
	}))

	// The workers' policy is the trigger's: each value as given, the
	// others params.env's defaults.
	keys, defaults := readParams(t, "params.env")
	env := map[string]string{}
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if d.Name == "cicada-worker" && c.Name == "worker" {
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
			}
		}
	}
	for _, k := range append(policy.Names(), "MAX_SHARDS") {
		want, ok := vars[k]
		if !ok {
			want = defaults[k]
		}
		if got := env[workerVar(k)]; got != want {
			t.Errorf("worker %s = %q, want %q (%s as given to render-k8s.sh)", workerVar(k), got, want, k)
		}
	}
	if len(keys) == 0 {
		t.Fatal("params.env has no keys")
	}

	for _, placeholder := range []string{"REGISTRY/", "PROJECT_ID", "WORKER_GSA", "AGGREGATOR_GSA", ": BUCKET", "cicada-params", "value: ALLOWED_TARGETS", "value: MAX_", "value: LITERAL_SECRETS"} {
		if bytes.Contains(y, []byte(placeholder)) {
			t.Errorf("rendered manifests still contain %q", placeholder)
		}
	}
	wantSA := map[string]string{"cicada-worker": vars["WORKER_GSA"], "cicada-aggregator": vars["AGGREGATOR_GSA"]}
	for _, sa := range m.sas {
		if got, want := sa.Annotations[wiAnnotation], wantSA[sa.Name]; got != want {
			t.Errorf("ServiceAccount %s: %s = %q, want %q", sa.Name, wiAnnotation, got, want)
		}
		if sa.Namespace != "cicada" {
			t.Errorf("ServiceAccount %s: namespace %q, want cicada (Terraform binds cicada/%s)", sa.Name, sa.Namespace, sa.Name)
		}
	}
	if len(m.configMaps) != 1 {
		t.Fatalf("rendered %d ConfigMaps, want 1 (cicada-params is local-config)", len(m.configMaps))
	}
	cm := m.configMaps[0]
	if got := cm.Data["CICADA_PROJECT"]; got != vars["PROJECT_ID"] {
		t.Errorf("ConfigMap %s: CICADA_PROJECT = %q, want %q", cm.Name, got, vars["PROJECT_ID"])
	}
	if got := cm.Data["CICADA_BUCKET"]; got != vars["BUCKET"] {
		t.Errorf("ConfigMap %s: CICADA_BUCKET = %q, want %q", cm.Name, got, vars["BUCKET"])
	}
	if got := cm.Data["CICADA_SECRET_HEADERS"]; got != vars["SECRET_HEADERS"] {
		t.Errorf("ConfigMap %s: CICADA_SECRET_HEADERS = %q, want %q", cm.Name, got, vars["SECRET_HEADERS"])
	}
	if !regexp.MustCompile(`^cicada-config-[a-z0-9]+$`).MatchString(cm.Name) {
		t.Errorf("ConfigMap name %q has no content hash: a config change would not roll the pods", cm.Name)
	}
}

// TestRenderedWorkerReadsPolicy renders with the required values only and
// reads the worker container's environment as the worker binary does
// (worker.ReadEnv): every value parses, and the policy is the one given,
// with params.env's defaults elsewhere. Not parallel: it sets the
// process's environment.
func TestRenderedWorkerReadsPolicy(t *testing.T) {
	const allow = "cicada-predict.cicada.svc.cluster.local:8501,10.8.0.0/20:8501"
	y := render(t, map[string]string{
		"IMAGE": "r/cicada", "TAG": "t", "PROJECT_ID": "p", "BUCKET": "b",
		"WORKER_GSA": "w@p.iam.gserviceaccount.com", "AGGREGATOR_GSA": "a@p.iam.gserviceaccount.com",
		"ALLOWED_TARGETS": allow, "MAX_SHARDS": "7", "MAX_START_DELAY": "5m",
	})
	m := &manifests{}
	if err := m.decode("rendered", y); err != nil {
		t.Fatal(err)
	}
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range m.configMaps {
		cms[cm.Name] = cm
	}
	found := false
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if d.Name != "cicada-worker" || c.Name != "worker" {
				continue
			}
			found = true
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && cms[ef.ConfigMapRef.Name] != nil {
					for k, v := range cms[ef.ConfigMapRef.Name].Data {
						t.Setenv(k, v)
					}
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					t.Setenv(e.Name, e.Value)
				}
			}
		}
	}
	if !found {
		t.Fatal("no worker container rendered")
	}
	env, err := worker.ReadEnv()
	if err != nil {
		t.Fatalf("worker.ReadEnv of the rendered environment: %v", err)
	}
	got := env.Worker
	want := policy.DefaultRules()
	want.AllowedTargets = strings.Split(allow, ",")
	want.MaxStartDelay = 5 * time.Minute
	want.MaxShards = 0 // read as MAX_PLAN_SHARDS
	if got.Rules == nil || fmt.Sprint(*got.Rules) != fmt.Sprint(want) || got.MaxPlanShards != 7 {
		t.Errorf("worker policy %+v, plan shards %d; want %+v and 7", got.Rules, got.MaxPlanShards, want)
	}
	if len(env.SecretHeaders) != 0 {
		t.Errorf("CICADA_SECRET_HEADERS = %q, want none (params.env's empty default)", env.SecretHeaders)
	}
}

// TestRenderRefusesMissingValues: a deploy with an unset value must stop,
// not apply a placeholder; one that opens the workers to the whole
// internet, or to what is not an address range, must stop too.
func TestRenderRefusesMissingValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"worker account unset", []string{"WORKER_GSA="}, "WORKER_GSA"},
		{"allow-list unset", []string{"ALLOWED_TARGETS="}, "missing ALLOWED_TARGETS"},
		{"allow-list left the placeholder", []string{"ALLOWED_TARGETS=ALLOWED_TARGETS"}, "ALLOWED_TARGETS is the placeholder"},
		{"limit not a number", []string{"MAX_RATE=lots"}, `MAX_RATE="lots" is not a value it takes`},
		{"limit not a duration", []string{"MAX_TIMEOUT=30"}, `MAX_TIMEOUT="30" is not a value it takes`},
		{"switch not a bool", []string{"LITERAL_SECRETS=yes"}, `LITERAL_SECRETS="yes" is not a value it takes`},
		{"line break in a value", []string{"ALLOWED_TARGETS=a\nMAX_RATE=1e9"}, "ALLOWED_TARGETS holds a line break"},
		{"targets: the whole internet", []string{"TARGET_CIDRS=10.0.0.0/8,0.0.0.0/0"}, `"0.0.0.0/0" is the whole internet`},
		{"targets: the whole IPv6 internet", []string{"TARGET_CIDRS=::/0"}, `"::/0" is the whole internet`},
		{"targets: a name", []string{"TARGET_CIDRS=api.example.com"}, `"api.example.com" is not a CIDR block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "k8s")
			cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "render-k8s.sh"))
			cmd.Env = append(os.Environ(), "OUT_DIR="+out, "IMAGE=r/cicada", "TAG=t", "PROJECT_ID=p", "BUCKET=b",
				"WORKER_GSA=w@p.iam.gserviceaccount.com", "AGGREGATOR_GSA=a@p.iam.gserviceaccount.com", "ALLOWED_TARGETS=predict.example:443")
			cmd.Env = append(cmd.Env, tt.env...)
			b, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(string(b), tt.want) {
				t.Fatalf("render-k8s.sh with %v: err %v, output %q; want a failure naming %s", tt.env, err, b, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("render-k8s.sh wrote %s although it refused", out)
			}
		})
	}
}

// validSet is a small, correct set of manifests; each row of TestCheckFails
// breaks it in one way.
const validSet = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: cicada-worker
  annotations:
    iam.gke.io/gcp-service-account: w@p.iam.gserviceaccount.com
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: cicada-aggregator
  annotations:
    iam.gke.io/gcp-service-account: a@p.iam.gserviceaccount.com
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cicada-config
data:
  CICADA_PROJECT: p
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cicada-worker
  annotations:
    cicada.dev/probes-exempt: "no port"
spec:
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      serviceAccountName: cicada-worker
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 60
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              preference:
                matchExpressions:
                  - key: cloud.google.com/gke-spot
                    operator: In
                    values: ["true"]
      securityContext:
        runAsNonRoot: true
      containers:
        - name: worker
          image: REGISTRY/cicada
          command: ["/usr/local/bin/worker"]
          envFrom:
            - configMapRef:
                name: cicada-config
          env:
            - name: CICADA_WORKER_CAPACITY
              value: "1"
            - name: CICADA_WORKER_STOP_GRACE
              value: 15s
          resources:
            requests: {cpu: "1", memory: 512Mi}
            limits: {cpu: "1", memory: 512Mi}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cicada-predict
spec:
  replicas: 1
  selector:
    matchLabels:
      app: predict
  template:
    metadata:
      labels:
        app: predict
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
      containers:
        - name: predict
          image: REGISTRY/cicada
          command: ["/usr/local/bin/predict"]
          env:
            - name: CICADA_PREDICT_HTTP_ADDR
              value: ":8501"
          ports:
            - name: http
              containerPort: 8501
            - name: grpc
              containerPort: 8500
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          livenessProbe:
            grpc:
              port: 8500
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 500m, memory: 128Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: cicada-predict
spec:
  selector:
    app: predict
  ports:
    - name: http
      port: 8501
      targetPort: http
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: cicada-worker
spec:
  podSelector:
    matchLabels:
      app: worker
  policyTypes: [Ingress, Egress]
  egress:
    - to:
        - ipBlock:
            cidr: 169.254.169.254/32
      ports:
        - protocol: UDP
          port: 53
    - to:
        - ipBlock:
            cidr: 199.36.153.8/30
      ports:
        - protocol: TCP
          port: 443
    - to:
        - podSelector:
            matchLabels:
              app: predict
      ports:
        - protocol: TCP
          port: 8501
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: cicada-worker
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: cicada-worker
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: External
      external:
        metric:
          name: pubsub.googleapis.com|subscription|num_undelivered_messages
          selector:
            matchLabels:
              resource.labels.subscription_id: cicada-shards-workers
        target:
          type: AverageValue
          averageValue: "1"
`

// TestCheckFails proves each check fails on a manifest broken its way: a
// row replaces one piece of validSet and names the error it expects.
func TestCheckFails(t *testing.T) {
	t.Parallel()
	known := mustKnownEnv(t)
	bins := []string{"aggregator", "cicada", "predict", "trigger", "worker"}

	tests := []struct {
		name      string
		old, new  string   // replace the first old by new ("" old: the valid set)
		wantErr   string   // "" = no problem
		decodeErr bool     // the strict decoding, not check, must refuse it
		workerEnv []string // options.workerEnv
	}{
		{name: "valid set passes"},
		{name: "unknown field", old: "terminationGracePeriodSeconds: 60", new: "terminationGracePeriod: 60",
			wantErr: `unknown field "terminationGracePeriod"`, decodeErr: true},
		{name: "field at the wrong level", old: "      serviceAccountName: cicada-worker", new: "      serviceAccount_name: cicada-worker",
			wantErr: "unknown field", decodeErr: true},
		{name: "duplicate key", old: "  minReplicas: 1\n", new: "  minReplicas: 1\n  minReplicas: 2\n",
			wantErr: `key "minReplicas" already set`, decodeErr: true},
		{name: "unknown kind", old: "kind: Service\n", new: "kind: Ingress\n",
			wantErr: "not one these checks know", decodeErr: true},
		{name: "selector does not match labels", old: "      labels:\n        app: worker", new: "      labels:\n        app: wrker",
			wantErr: "does not match the pod template's labels"},
		{name: "service selects nothing", old: "  selector:\n    app: predict", new: "  selector:\n    app: predictor",
			wantErr: "selects the pods of 0 Deployments"},
		{name: "service target port missing", old: "      targetPort: http", new: "      targetPort: rest",
			wantErr: "target rest is not a port"},
		{name: "image not from the registry", old: "          image: REGISTRY/cicada\n          command: [\"/usr/local/bin/worker\"]",
			new: "          image: docker.io/library/cicada\n          command: [\"/usr/local/bin/worker\"]", wantErr: "is not REGISTRY/cicada"},
		{name: "binary not in the image", old: `command: ["/usr/local/bin/worker"]`, new: `command: ["/usr/local/bin/wrker"]`,
			wantErr: `the Dockerfile builds no "wrker"`},
		{name: "no command", old: `          command: ["/usr/local/bin/predict"]` + "\n", new: "",
			wantErr: "does not name a binary"},
		{name: "no memory limit", old: "limits: {cpu: \"1\", memory: 512Mi}", new: "limits: {cpu: \"1\"}",
			wantErr: "container worker: no memory limit"},
		{name: "no requests", old: "requests: {cpu: 100m, memory: 64Mi}", new: "requests: {}",
			wantErr: "container predict: no cpu request"},
		{name: "no readiness probe", old: "          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: http\n", new: "",
			wantErr: "no readinessProbe"},
		{name: "exemption without a reason", old: `cicada.dev/probes-exempt: "no port"`, new: `cicada.dev/probes-exempt: " "`,
			wantErr: "container worker: no livenessProbe"},
		{name: "probe on a port the container lacks", old: "            grpc:\n              port: 8500", new: "            grpc:\n              port: 9000",
			wantErr: "gRPC probe port 9000"},
		{name: "env not in the worker's structs", old: "- name: CICADA_WORKER_CAPACITY", new: "- name: CICADA_WORKER_CAPACTY",
			wantErr: "env CICADA_WORKER_CAPACTY is not read by worker"},
		{name: "env of another binary", old: "- name: CICADA_PREDICT_HTTP_ADDR", new: "- name: CICADA_WORKER_CAPACITY",
			wantErr: "env CICADA_WORKER_CAPACITY is not read by predict"},
		{name: "ConfigMap key not read", old: "  CICADA_PROJECT: p", new: "  CICADA_PROJ: p",
			wantErr: "env CICADA_PROJ (ConfigMap cicada-config) is not read by worker"},
		{name: "short grace period", old: "terminationGracePeriodSeconds: 60", new: "terminationGracePeriodSeconds: 10",
			wantErr: "terminationGracePeriodSeconds 10 < 18"},
		{name: "workers not on Spot", old: "                  - key: cloud.google.com/gke-spot", new: "                  - key: cloud.google.com/gke-preemptible",
			wantErr: "no node affinity or nodeSelector for cloud.google.com/gke-spot=true"},
		{name: "workers on Spot by nodeSelector", old: "      affinity:\n        nodeAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n            - weight: 100\n              preference:\n                matchExpressions:\n                  - key: cloud.google.com/gke-spot\n                    operator: In\n                    values: [\"true\"]\n",
			new: "      nodeSelector:\n        cloud.google.com/gke-spot: \"true\"\n"},
		{name: "stop grace beyond the pod's", old: "value: 15s", new: "value: 90s",
			wantErr: "CICADA_WORKER_STOP_GRACE 1m30s is longer than terminationGracePeriodSeconds 60"},
		{name: "default grace period", old: "      terminationGracePeriodSeconds: 60\n", new: "",
			wantErr: "terminationGracePeriodSeconds unset"},
		{name: "worker replicas fight the autoscaler", old: "  selector:\n    matchLabels:\n      app: worker", new: "  replicas: 3\n  selector:\n    matchLabels:\n      app: worker",
			wantErr: "the HorizontalPodAutoscaler owns the count"},
		{name: "no Workload Identity annotation", old: "    iam.gke.io/gcp-service-account: a@p.iam.gserviceaccount.com", new: "    other: x",
			wantErr: "ServiceAccount cicada-aggregator: no iam.gke.io/gcp-service-account"},
		{name: "unknown service account", old: "serviceAccountName: cicada-worker", new: "serviceAccountName: worker",
			wantErr: "serviceAccountName worker is not a ServiceAccount here"},
		{name: "default service account token", old: "      automountServiceAccountToken: false\n      securityContext:\n        runAsNonRoot: true\n      containers:\n        - name: predict",
			new:     "      securityContext:\n        runAsNonRoot: true\n      containers:\n        - name: predict",
			wantErr: "default ServiceAccount"},
		{name: "runs as root", old: "      securityContext:\n        runAsNonRoot: true\n      containers:\n        - name: predict", new: "      containers:\n        - name: predict",
			wantErr: "runAsNonRoot"},
		{name: "autoscaler targets another Deployment", old: "    kind: Deployment\n    name: cicada-worker", new: "    kind: Deployment\n    name: cicada-predict",
			wantErr: "none targets Deployment cicada-worker"},
		{name: "autoscaler on another subscription", old: "subscription_id: cicada-shards-workers", new: "subscription_id: cicada-events-aggregator",
			wantErr: "no External metric on the backlog"},
		{name: "autoscaler min above max", old: "  minReplicas: 1", new: "  minReplicas: 9",
			wantErr: "minReplicas <= maxReplicas"},
		{name: "API token mounted for nothing", old: "      automountServiceAccountToken: false\n      terminationGracePeriodSeconds: 60", new: "      terminationGracePeriodSeconds: 60",
			wantErr: "Deployment cicada-worker: pods mount a Kubernetes API token"},
		{name: "API token mounted, and said why", old: "    cicada.dev/probes-exempt: \"no port\"\n", new: "    cicada.dev/probes-exempt: \"no port\"\n    cicada.dev/needs-service-account-token: \"reads its Pods\"\n"},
		{name: "worker egress unlimited", old: "kind: NetworkPolicy\nmetadata:\n  name: cicada-worker\nspec:\n  podSelector:\n    matchLabels:\n      app: worker",
			new: "kind: NetworkPolicy\nmetadata:\n  name: cicada-worker\nspec:\n  podSelector:\n    matchLabels:\n      app: other", wantErr: "Deployment cicada-worker: no NetworkPolicy limits its egress"},
		{name: "egress rule to anything", old: "    - to:\n        - podSelector:\n            matchLabels:\n              app: predict\n      ports:\n", new: "    - ports:\n",
			wantErr: "egress rule 2 has no to: it lets the pods reach anything"},
		{name: "egress to the internet", old: "cidr: 169.254.169.254/32", new: "cidr: 0.0.0.0/0",
			wantErr: "ipBlock 0.0.0.0/0 is the whole internet"},
		{name: "egress to every namespace", old: "        - podSelector:\n            matchLabels:\n              app: predict\n", new: "        - namespaceSelector: {}\n",
			wantErr: "reaches every pod of every namespace"},
		{name: "no Google APIs", old: "cidr: 199.36.153.8/30", new: "cidr: 10.0.0.0/8",
			wantErr: "do not reach Google APIs"},
		{name: "no DNS", old: "          port: 53\n", new: "          port: 54\n",
			wantErr: "allow no DNS"},
		{name: "ingress to a worker without ports", old: "  policyTypes: [Ingress, Egress]\n", new: "  policyTypes: [Ingress, Egress]\n  ingress:\n    - {}\n",
			wantErr: "serves no port, but NetworkPolicy cicada-worker lets traffic in"},
		{name: "worker sets what is required", workerEnv: []string{"CICADA_WORKER_CAPACITY", "CICADA_PROJECT"}},
		{name: "worker without the policy", workerEnv: []string{"CICADA_WORKER_ALLOWED_TARGETS"},
			wantErr: "Deployment cicada-worker: container worker: no env CICADA_WORKER_ALLOWED_TARGETS"},
		{name: "worker policy in a ConfigMap it does not take", workerEnv: []string{"CICADA_PROJECT"},
			old: "          envFrom:\n            - configMapRef:\n                name: cicada-config\n", new: "",
			wantErr: "no env CICADA_PROJECT"},
		{name: "ingress not limited", old: "  policyTypes: [Ingress, Egress]\n", new: "  policyTypes: [Egress]\n",
			wantErr: "no NetworkPolicy keeps traffic out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := validSet
			if tt.old != "" {
				if !strings.Contains(doc, tt.old) {
					t.Fatalf("the valid set has no %q to replace", tt.old)
				}
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			m := &manifests{}
			err := m.decode("inline", []byte(doc))
			if tt.decodeErr {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			errs := check(m, options{binaries: bins, known: known, workerEnv: tt.workerEnv})
			if tt.wantErr == "" {
				reportErrs(t, errs)
				return
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tt.wantErr) {
					return
				}
			}
			t.Fatalf("check found %v, want an error containing %q", errs, tt.wantErr)
		})
	}
}
