// A minimal mutating webhook in Go, for `make bench` only: it decodes each AdmissionReview and allows
// the object unchanged. The API server's pod creation through it is what any webhook call costs on the
// test bed, the floor under the hooks' own figure. Not part of the product.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
)

type admissionReview struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    json.RawMessage `json:"request,omitempty"`
	Response   map[string]any  `json:"response,omitempty"`
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
			UID    string         `json:"uid"`
			Object map[string]any `json:"object"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || json.Unmarshal(review.Request, &request) != nil {
			http.Error(w, `{"error":"not an AdmissionReview"}`, http.StatusBadRequest)
			return
		}
		served.Add(1)
		review.Request, review.Response = nil, map[string]any{"uid": request.UID, "allowed": true}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})
	http.HandleFunc("GET /served", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", served.Load())
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServeTLS(os.Args[1], os.Args[2], os.Args[3], nil))
	os.Exit(1)
}
