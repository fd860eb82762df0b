// Command k8scheck decodes Kubernetes manifests (the output of `helm template`) strictly
// against the Kubernetes API's Go types: an unknown or misspelt field, a wrong type, a
// duplicate key or an apiVersion/kind it does not know is an error. Custom resources are
// decoded against their projects' own Go types (KEDA, prometheus-operator).
//
//	helm template deploy/helm/llmpulse | k8scheck            # or: k8scheck FILE...
//
// It prints one line per object (apiVersion, kind, name) and exits 1 after listing every
// problem.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// types maps "apiVersion kind" to a constructor of the Go type that kind decodes into.
var types = map[string]func() any{
	"v1 ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                                func() any { return &corev1.Secret{} },
	"v1 Service":                               func() any { return &corev1.Service{} },
	"v1 ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1 Pod":                                   func() any { return &corev1.Pod{} },
	"apps/v1 Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1 StatefulSet":                      func() any { return &appsv1.StatefulSet{} },
	"batch/v1 Job":                             func() any { return &batchv1.Job{} },
	"policy/v1 PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2 HorizontalPodAutoscaler":   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"rbac.authorization.k8s.io/v1 Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1 RoleBinding": func() any { return &rbacv1.RoleBinding{} },
	"keda.sh/v1alpha1 ScaledObject":            func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1 TriggerAuthentication":   func() any { return &kedav1alpha1.TriggerAuthentication{} },
	"monitoring.coreos.com/v1 ServiceMonitor":  func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1 PodMonitor":      func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1 PrometheusRule":  func() any { return &monitoringv1.PrometheusRule{} },
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// documents splits a YAML stream on its `---` separator lines.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var current bytes.Buffer
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	flush := func() {
		if strings.TrimSpace(stripComments(current.String())) != "" {
			docs = append(docs, append([]byte(nil), current.Bytes()...))
		}
		current.Reset()
	}
	for scanner.Scan() {
		line := scanner.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") {
			flush()
			continue
		}
		current.WriteString(line)
		current.WriteByte('\n')
	}
	flush()
	return docs
}

func stripComments(doc string) string {
	var kept []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// source is the `# Source: chart/templates/x.yaml` line helm puts before each object.
func source(doc []byte) string {
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "# Source: ") {
			return strings.TrimPrefix(line, "# Source: ")
		}
	}
	return "?"
}

func check(doc []byte) (string, error) {
	var head header
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "", fmt.Errorf("%s: not YAML: %w", source(doc), err)
	}
	key := head.APIVersion + " " + head.Kind
	what := fmt.Sprintf("%s %s %s", head.APIVersion, head.Kind, head.Metadata.Name)
	newObject, known := types[key]
	if !known {
		return what, fmt.Errorf("%s: %s: unknown apiVersion and kind", source(doc), what)
	}
	if head.Metadata.Name == "" {
		return what, fmt.Errorf("%s: %s: metadata.name is empty", source(doc), what)
	}
	// As the API server decodes: duplicate keys, then unknown fields with their full path
	// (every one of them) and wrong types.
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return what, fmt.Errorf("%s: %s: %w", source(doc), what, err)
	}
	strict, err := sigsjson.UnmarshalStrict(data, newObject())
	if err != nil {
		return what, fmt.Errorf("%s: %s: %w", source(doc), what, err)
	}
	if len(strict) > 0 {
		return what, fmt.Errorf("%s: %s: %w", source(doc), what, errors.Join(strict...))
	}
	return what, nil
}

func run(inputs map[string][]byte, out io.Writer) error {
	var problems []error
	count := 0
	for name, data := range inputs {
		for _, doc := range documents(data) {
			what, err := check(doc)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", name, err))
				continue
			}
			count++
			fmt.Fprintf(out, "ok %s\n", what)
		}
	}
	if count == 0 && len(problems) == 0 {
		problems = append(problems, errors.New("no Kubernetes object in the input"))
	}
	return errors.Join(problems...)
}

func main() {
	inputs := map[string][]byte{}
	if len(os.Args) == 1 {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "k8scheck:", err)
			os.Exit(2)
		}
		inputs["stdin"] = data
	}
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "k8scheck:", err)
			os.Exit(2)
		}
		inputs[path] = data
	}
	if err := run(inputs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
