// A minimal mutating webhook in Go, for `make bench` only: the floor under the hooks' figures on the
// test bed. For a pod whose annotation multicluster.admiralty.io/service-account-import.name lists
// imports, it answers the patch the hooks would (a Secret volume per import, mounted read-only in
// every container, and the credential plugin's init container and volume) without their checks;
// otherwise it allows the pod unchanged. Not part of the product.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

const (
	importAnnotation = "multicluster.admiralty.io/service-account-import.name"
	mountRoot        = "/var/run/secrets/admiralty.io/serviceaccountimports"
	pluginName       = "mcsa-credential-plugin"
	pluginDir        = "/var/run/secrets/admiralty.io/bin"
	pluginImage      = "ghcr.io/admiraltyio/multicluster-service-account-credential-plugin:0.7.0"
)

// installer is the credential plugin's init container, as hooks/mutate.py makes it.
var installer = map[string]any{
	"name": pluginName, "image": pluginImage, "imagePullPolicy": "IfNotPresent",
	"args":         []string{"--install", pluginDir},
	"volumeMounts": []any{map[string]any{"name": pluginName, "mountPath": pluginDir}},
	"resources": map[string]any{
		"requests": map[string]any{"cpu": "10m", "memory": "16Mi"},
		"limits":   map[string]any{"cpu": "100m", "memory": "16Mi"},
	},
	"securityContext": map[string]any{
		"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []string{"ALL"}},
		"readOnlyRootFilesystem": true, "runAsNonRoot": true,
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	},
	"terminationMessagePolicy": "FallbackToLogsOnError",
}

type admissionReview struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    json.RawMessage `json:"request,omitempty"`
	Response   map[string]any  `json:"response,omitempty"`
}

type pod struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec map[string]json.RawMessage `json:"spec"`
}

type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// appendOps adds items to the list at path, creating it if the pod has none.
func appendOps(ops []op, exists bool, path string, items []any) []op {
	if !exists {
		return append(ops, op{"add", path, items})
	}
	for _, item := range items {
		ops = append(ops, op{"add", path + "/-", item})
	}
	return ops
}

// mutated: the pod has the plugin's volume already. The API server calls the webhook again (its
// reinvocationPolicy is IfNeeded) after the ServiceAccount admission plugin adds its token to the new init
// container; the hooks then add nothing, and nor does this.
func mutated(p pod) bool {
	var volumes []struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(p.Spec["volumes"], &volumes)
	for _, volume := range volumes {
		if volume.Name == pluginName {
			return true
		}
	}
	return false
}

func patch(p pod) []op {
	var volumes, mounts []any
	for _, name := range strings.Split(p.Metadata.Annotations[importAnnotation], ",") {
		if name = strings.TrimSpace(name); name != "" {
			volumes = append(volumes, map[string]any{"name": "sai-" + name, "secret": map[string]any{"secretName": name + "-token"}})
			mounts = append(mounts, map[string]any{"name": "sai-" + name, "mountPath": mountRoot + "/" + name, "readOnly": true})
		}
	}
	if len(volumes) == 0 || mutated(p) {
		return nil
	}
	volumes = append(volumes, map[string]any{"name": pluginName, "emptyDir": map[string]any{"sizeLimit": "16Mi"}})
	mounts = append(mounts, map[string]any{"name": pluginName, "mountPath": pluginDir, "readOnly": true})
	_, hasVolumes := p.Spec["volumes"]
	ops := appendOps(nil, hasVolumes, "/spec/volumes", volumes)
	for _, key := range []string{"initContainers", "containers"} {
		var containers []map[string]json.RawMessage
		_ = json.Unmarshal(p.Spec[key], &containers)
		for i, container := range containers {
			_, hasMounts := container["volumeMounts"]
			ops = appendOps(ops, hasMounts, fmt.Sprintf("/spec/%s/%d/volumeMounts", key, i), mounts)
		}
	}
	if _, hasInit := p.Spec["initContainers"]; hasInit {
		return append(ops, op{"add", "/spec/initContainers/0", installer})
	}
	return append(ops, op{"add", "/spec/initContainers", []any{installer}})
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: webhook-go ADDRESS CERT_FILE KEY_FILE")
		os.Exit(2)
	}
	var served atomic.Int64
	http.HandleFunc("POST /mutate", func(w http.ResponseWriter, r *http.Request) {
		var review admissionReview
		var request struct {
			UID    string `json:"uid"`
			Object pod    `json:"object"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || json.Unmarshal(review.Request, &request) != nil {
			http.Error(w, `{"error":"not an AdmissionReview"}`, http.StatusBadRequest)
			return
		}
		served.Add(1)
		response := map[string]any{"uid": request.UID, "allowed": true}
		if ops := patch(request.Object); ops != nil {
			encoded, _ := json.Marshal(ops)
			response["patchType"], response["patch"] = "JSONPatch", base64.StdEncoding.EncodeToString(encoded)
		}
		review.Request, review.Response = nil, response
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})
	http.HandleFunc("GET /served", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", served.Load())
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServeTLS(os.Args[1], os.Args[2], os.Args[3], nil))
	os.Exit(1)
}
