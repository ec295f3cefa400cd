// mcsa-credential: a kubeconfig exec credential plugin that prints, as an ExecCredential, the token in a
// file (an import's mounted token, which the kubelet refreshes), for clients that read a kubeconfig's
// token only once; and the access provider of ClusterProfiles (SIG Multicluster's cluster inventory API),
// whose consumers run it with the cluster's server in KUBERNETES_EXEC_INFO. Static and standard library
// only: it runs in images with no shell and no libc.
//
//	mcsa-credential --token-file PATH   print an ExecCredential holding the token in PATH
//	mcsa-credential --imports-dir DIR   the same, for the token of the import mounted in DIR/<import> whose
//	                                    server is the client's (spec.cluster.server: provideClusterInfo: true)
//	mcsa-credential --install DIR       copy this program to DIR/mcsa-credential (the init container)
//	mcsa-credential --version
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

const (
	name      = "mcsa-credential"
	apiV1     = "client.authentication.k8s.io/v1"
	apiV1beta = "client.authentication.k8s.io/v1beta1"
	usage     = "usage: mcsa-credential --token-file PATH | --imports-dir DIR | --install DIR | --version\n"
	// The files of a mounted import the plugin reads (the Secret's keys token and server).
	tokenKey  = "token"
	serverKey = "server"
)

// The expiry the plugin gives, so that every client runs it again soon after the kubelet refreshes the
// mounted token, and before that token really expires. The official Python client runs the plugin again
// 5 minutes before the expiry it is told (checked per request), client-go and client-node at that expiry,
// kube-rs 60 s before it. So: at most maxLifetime ahead (Python's 5 minutes + a 30-s cadence), and never
// later than expirySkew before the token's own expiry (its JWT exp), so that every client switches to the
// new token in time. When the token expires within expirySkew or has expired (a renewal is late), ask
// again after lateRetry.
const (
	maxLifetime = 330 * time.Second
	expirySkew  = 60 * time.Second
	lateRetry   = 30 * time.Second
)

type execCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Status     struct {
		Token               string `json:"token"`
		ExpirationTimestamp string `json:"expirationTimestamp"`
	} `json:"status"`
}

// apiVersionFor is the ExecCredential version to answer, from KUBERNETES_EXEC_INFO (v1 unless it asks v1beta1).
func apiVersionFor(execInfo string) string {
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	if json.Unmarshal([]byte(execInfo), &info) == nil && info.APIVersion == apiV1beta {
		return apiV1beta
	}
	return apiV1
}

// tokenExpiry is the JWT exp claim of token, read without verifying the signature.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	// Out of range (before 1970 or after 9999): unknown, rather than an overflowed time.
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || *claims.Exp < 0 || *claims.Exp > 253402300799 {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}

// expiration is the expiry to give for a token that expires at exp (if known), at now.
func expiration(exp time.Time, known bool, now time.Time) time.Time {
	if !known {
		return now.Add(maxLifetime)
	}
	latest := exp.Add(-expirySkew)
	switch {
	case !latest.After(now): // expires within expirySkew, or has expired: a renewal is late
		return now.Add(lateRetry)
	case latest.Before(now.Add(maxLifetime)):
		return latest
	default:
		return now.Add(maxLifetime)
	}
}

// credential is the ExecCredential (JSON, one line) for token at now.
func credential(token, execInfo string, now time.Time) []byte {
	c := execCredential{APIVersion: apiVersionFor(execInfo), Kind: "ExecCredential"}
	c.Status.Token = token
	exp, known := tokenExpiry(token)
	c.Status.ExpirationTimestamp = expiration(exp, known, now).UTC().Truncate(time.Second).Format(time.RFC3339)
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(c) // strings only: cannot fail
	return []byte(b.String())
}

// clusterServer is spec.cluster.server of KUBERNETES_EXEC_INFO: the server the client calls, which a client
// gives its plugin only when the exec config says provideClusterInfo: true.
func clusterServer(execInfo string) (string, error) {
	var info struct {
		Spec struct {
			Cluster *struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"spec"`
	}
	if execInfo == "" {
		return "", errors.New("KUBERNETES_EXEC_INFO is not set: run me as a kubeconfig exec plugin")
	}
	if err := json.Unmarshal([]byte(execInfo), &info); err != nil {
		return "", errors.New("KUBERNETES_EXEC_INFO is not an ExecCredential in JSON")
	}
	if info.Spec.Cluster == nil || info.Spec.Cluster.Server == "" {
		return "", errors.New("KUBERNETES_EXEC_INFO has no spec.cluster.server: set provideClusterInfo: true in the exec config")
	}
	return info.Spec.Cluster.Server, nil
}

// importFor is the token file of the one import mounted in dir/<import> whose server file is server (a
// trailing slash aside). Its errors name the imports and the server, never a file's content but a server.
func importFor(dir, server string) (string, error) {
	entries, err := os.ReadDir(dir)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w; does the pod ask for an import (annotation multicluster.admiralty.io/service-account-import.name)?", dir, err)
	}
	want := strings.TrimRight(server, "/")
	var found []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), serverKey))
		if err == nil && strings.TrimRight(strings.TrimSpace(string(data)), "/") == want {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no import mounted in %s is for server %s; annotate the pod with an import of that cluster", dir, want)
	case 1:
		return filepath.Join(dir, found[0], tokenKey), nil
	default:
		return "", fmt.Errorf("imports %s, mounted in %s, are all for server %s; mount only one import per cluster", strings.Join(found, ", "), dir, want)
	}
}

// readToken is the token in path, whitespace trimmed. Its errors never hold the file's content.
func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", errors.New("the file is empty")
	}
	return token, nil
}

// install copies src to dir/mcsa-credential atomically: a temporary file in dir, synced, mode 0555, renamed.
func install(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	_, err = io.Copy(tmp, in)
	err = errors.Join(err, tmp.Sync(), tmp.Chmod(0o555), tmp.Close())
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, name)
	return dest, os.Rename(tmp.Name(), dest)
}

// run is the program, for args (without the program's name), with its environment and clock injected.
func run(args []string, getenv func(string) string, now func() time.Time, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Fprintln(stdout, name, version)
		return 0
	}
	if len(args) == 1 && strings.Contains(args[0], "=") { // --token-file=PATH, --imports-dir=DIR, --install=DIR
		k, v, _ := strings.Cut(args[0], "=")
		args = []string{k, v}
	}
	switch {
	case len(args) != 2 || args[1] == "":
	case args[0] == "--token-file" || args[0] == "--imports-dir":
		execInfo, path := getenv("KUBERNETES_EXEC_INFO"), args[1]
		if args[0] == "--imports-dir" {
			server, err := clusterServer(execInfo)
			if err == nil {
				path, err = importFor(args[1], server)
			}
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				return 1
			}
		}
		token, err := readToken(path)
		if err != nil {
			fmt.Fprintf(stderr, "%s: cannot read token file %s: %v; is the import's Secret mounted there?\n", name, path, err)
			return 1
		}
		if _, err := stdout.Write(credential(token, execInfo, now())); err != nil {
			return 1
		}
		return 0
	case args[0] == "--install":
		self, err := os.Executable()
		dest := ""
		if err == nil {
			dest, err = install(self, args[1])
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: cannot install into %s: %v\n", name, args[1], err)
			return 1
		}
		fmt.Fprintf(stderr, "%s: installed %s\n", name, dest)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, time.Now, os.Stdout, os.Stderr))
}
