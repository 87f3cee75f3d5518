package k8s_test

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cicadaload/cicada/shared/aggregate"
)

// podMonitoring is Managed Service for Prometheus's PodMonitoring
// (monitoring.googleapis.com/v1), the fields these manifests may use:
// decoded strictly, a misspelt or unknown field is an error, as the API
// server's validation of the CRD would make it.
type podMonitoring struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     intstr.IntOrString `json:"port"`
			Path     string             `json:"path,omitempty"`
			Interval string             `json:"interval,omitempty"`
			Timeout  string             `json:"timeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// monitoringNamespace is where Managed Service for Prometheus's collectors
// run, and their pods' label.
const (
	monitoringNamespace = "gmp-system"
	collectorLabel      = "collector"
)

// checkPodMonitoring wants pm to select the pods of exactly one
// Deployment, scrape ports of its containers with an absolute path at
// least every minute, and, when a NetworkPolicy limits those pods'
// ingress, the collectors let in on each scraped port.
func checkPodMonitoring(pm *podMonitoring, deps []*appsv1.Deployment, netpols []*networkingv1.NetworkPolicy) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("PodMonitoring %s: "+format, append([]any{pm.Metadata.Name}, args...)...))
	}
	sel := pm.Spec.Selector
	if len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) > 0 {
		fail("selector: want matchLabels only")
		return errs
	}
	var match []*appsv1.Deployment
	for _, d := range deps {
		ok := true
		for k, v := range sel.MatchLabels {
			ok = ok && d.Spec.Template.Labels[k] == v
		}
		if ok {
			match = append(match, d)
		}
	}
	if len(match) != 1 {
		fail("selector %v selects the pods of %d Deployments, want 1", sel.MatchLabels, len(match))
		return errs
	}
	d := match[0]
	if len(pm.Spec.Endpoints) == 0 {
		fail("no endpoints")
	}
	for _, ep := range pm.Spec.Endpoints {
		var port *corev1.ContainerPort
		for _, c := range d.Spec.Template.Spec.Containers {
			for i, p := range c.Ports {
				if (ep.Port.Type == intstr.String && p.Name == ep.Port.StrVal) || (ep.Port.Type == intstr.Int && p.ContainerPort == ep.Port.IntVal) {
					port = &c.Ports[i]
				}
			}
		}
		if port == nil {
			fail("port %s is not a port of Deployment %s's containers", ep.Port.String(), d.Name)
			continue
		}
		if !strings.HasPrefix(ep.Path, "/") {
			fail("port %s: path %q is not absolute", ep.Port.String(), ep.Path)
		}
		if iv, err := time.ParseDuration(ep.Interval); err != nil || iv <= 0 || iv > time.Minute {
			fail("port %s: interval %q, want a duration of at most 1m", ep.Port.String(), ep.Interval)
		}
		if !collectorsReach(d, netpols, int(port.ContainerPort)) {
			fail("a NetworkPolicy keeps the collectors (%s/%s) from port %d of Deployment %s", monitoringNamespace, collectorLabel, port.ContainerPort, d.Name)
		}
	}
	return errs
}

// collectorsReach reports whether Managed Service for Prometheus's
// collectors may reach port of d's pods: no NetworkPolicy limits their
// ingress, or one lets the collectors in on that port.
func collectorsReach(d *appsv1.Deployment, netpols []*networkingv1.NetworkPolicy, port int) bool {
	limited := false
	for _, np := range netpols {
		selects := true
		for k, v := range np.Spec.PodSelector.MatchLabels {
			selects = selects && d.Spec.Template.Labels[k] == v
		}
		if !selects || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		limited = true
		for _, r := range np.Spec.Ingress {
			if !allowsPort(r.Ports, port) {
				continue
			}
			for _, from := range r.From {
				ns, pod := from.NamespaceSelector, from.PodSelector
				if ns != nil && ns.MatchLabels["kubernetes.io/metadata.name"] == monitoringNamespace &&
					(pod == nil || pod.MatchLabels["app.kubernetes.io/name"] == collectorLabel) {
					return true
				}
			}
		}
	}
	return !limited
}

// TestAggregatorMonitored wants a PodMonitoring on the aggregator's pods,
// on the port its /metrics is served on (CICADA_AGGREGATOR_METRICS_ADDR's
// default), every 15 s.
func TestAggregatorMonitored(t *testing.T) {
	t.Parallel()
	m := readBase(t)
	var agg *appsv1.Deployment
	for _, d := range m.deployments {
		if d.Name == "cicada-aggregator" {
			agg = d
		}
	}
	if agg == nil {
		t.Fatal("no Deployment cicada-aggregator")
	}
	wantPort := int32(aggregatorMetricsPort(t))
	found := false
	for _, pm := range m.podMonitorings {
		reportErrs(t, checkPodMonitoring(pm, m.deployments, m.netpols))
		selects := true
		for k, v := range pm.Spec.Selector.MatchLabels {
			selects = selects && agg.Spec.Template.Labels[k] == v
		}
		if !selects {
			continue
		}
		for _, ep := range pm.Spec.Endpoints {
			for _, c := range agg.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					if p.Name == ep.Port.StrVal && p.ContainerPort == wantPort && ep.Path == "/metrics" && ep.Interval == "15s" {
						found = true
					}
				}
			}
		}
	}
	if !found {
		t.Errorf("no PodMonitoring scrapes /metrics of cicada-aggregator on its port %d every 15s", wantPort)
	}
}

func TestCheckPodMonitoringFails(t *testing.T) {
	t.Parallel()
	const valid = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: agg
spec:
  selector:
    matchLabels:
      app: agg
  template:
    metadata:
      labels:
        app: agg
    spec:
      containers:
        - name: agg
          image: REGISTRY/cicada
          ports:
            - name: metrics
              containerPort: 9090
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: agg
spec:
  podSelector:
    matchLabels:
      app: agg
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: gmp-system
          podSelector:
            matchLabels:
              app.kubernetes.io/name: collector
      ports:
        - protocol: TCP
          port: 9090
---
apiVersion: monitoring.googleapis.com/v1
kind: PodMonitoring
metadata:
  name: agg
spec:
  selector:
    matchLabels:
      app: agg
  endpoints:
    - port: metrics
      path: /metrics
      interval: 15s
`
	tests := []struct {
		name, old, new string
		want           string // "" = no problem
		decodeErr      bool
	}{
		{name: "valid"},
		{name: "unknown field", old: "      interval: 15s", new: "      intervall: 15s", want: `unknown field "intervall"`, decodeErr: true},
		{name: "selects nothing", old: "  selector:\n    matchLabels:\n      app: agg\n  endpoints:", new: "  selector:\n    matchLabels:\n      app: other\n  endpoints:", want: "selects the pods of 0 Deployments"},
		{name: "port not on the container", old: "    - port: metrics", new: "    - port: http", want: "port http is not a port"},
		{name: "port by number", old: "    - port: metrics", new: "    - port: 9090"},
		{name: "relative path", old: "      path: /metrics", new: "      path: metrics", want: "is not absolute"},
		{name: "rare scrapes", old: "      interval: 15s", new: "      interval: 5m", want: "at most 1m"},
		{name: "collectors kept out", old: "kubernetes.io/metadata.name: gmp-system", new: "kubernetes.io/metadata.name: monitoring", want: "keeps the collectors"},
		{name: "collectors on another port", old: "          port: 9090\n---", new: "          port: 9091\n---", want: "keeps the collectors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := valid
			if tt.old != "" {
				if !strings.Contains(doc, tt.old) {
					t.Fatalf("the valid set has no %q", tt.old)
				}
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			m := &manifests{}
			err := m.decode("inline", []byte(doc))
			if tt.decodeErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("decode: %v, want an error containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.podMonitorings) != 1 {
				t.Fatalf("%d PodMonitorings decoded, want 1", len(m.podMonitorings))
			}
			errs := checkPodMonitoring(m.podMonitorings[0], m.deployments, m.netpols)
			if tt.want == "" {
				reportErrs(t, errs)
				return
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tt.want) {
					return
				}
			}
			t.Errorf("check found %v, want an error containing %q", errs, tt.want)
		})
	}
}

// aggregatorMetricsPort is the port of CICADA_AGGREGATOR_METRICS_ADDR's
// default, from aggregate.Config's struct tag as envconfig reads it.
func aggregatorMetricsPort(t *testing.T) int {
	t.Helper()
	f, ok := reflect.TypeFor[aggregate.Config]().FieldByName("MetricsAddr")
	if !ok {
		t.Fatal("aggregate.Config has no MetricsAddr")
	}
	_, port, err := net.SplitHostPort(f.Tag.Get("default"))
	if err != nil {
		t.Fatalf("aggregate.Config.MetricsAddr default: %v", err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("aggregate.Config.MetricsAddr default port: %v", err)
	}
	return n
}
