package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With MCSA_CREDENTIAL_TEST_MAIN set, the test binary is the program itself: the tests run it as a process.
func TestMain(m *testing.M) {
	if os.Getenv("MCSA_CREDENTIAL_TEST_MAIN") != "" {
		main()
	}
	os.Exit(m.Run())
}

var now = time.Date(2026, 12, 4, 9, 54, 30, 123456789, time.FixedZone("CET", 3600)) // 08:54:30.123Z

func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(claims)) + ".c2lnbmF0dXJl"
}

func clock() time.Time { return now }

func noEnv(string) string { return "" }

func TestAPIVersionFor(t *testing.T) {
	for info, want := range map[string]string{
		"":                          apiV1,
		"not json":                  apiV1,
		`{"apiVersion":3}`:          apiV1,
		`{"kind":"ExecCredential"}`: apiV1,
		`{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`:                                                     apiV1,
		`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`:      apiV1,
		`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}`: apiV1beta,
	} {
		if got := apiVersionFor(info); got != want {
			t.Errorf("apiVersionFor(%q) = %q, want %q", info, got, want)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	padded := strings.Split(jwt(`{"exp":1796378400}`), ".")
	padded[1] = base64.URLEncoding.EncodeToString([]byte(`{"sub":"a","exp":1796378400}`)) // with '='
	for _, c := range []struct {
		name, token string
		known       bool
	}{
		{"integer exp", jwt(`{"sub":"system:serviceaccount:default:x","exp":1796378400}`), true},
		{"fractional exp", jwt(`{"exp":1796378400.75}`), true},
		{"padded segment", strings.Join(padded, "."), true},
		{"no exp", jwt(`{"sub":"x"}`), false},
		{"exp not a number", jwt(`{"exp":"1796378400"}`), false},
		{"exp negative", jwt(`{"exp":-5}`), false},
		{"exp past year 9999", jwt(`{"exp":1e300}`), false},
		{"payload not json", jwt(`exp`), false},
		{"payload not base64url", "a.b*c.d", false},
		{"not a jwt", "opaque-token", false},
		{"two segments", "a.b", false},
	} {
		got, known := tokenExpiry(c.token)
		if known != c.known || (known && !got.Equal(exp)) {
			t.Errorf("%s: tokenExpiry = %v, %v; want %v, %v", c.name, got, known, exp, c.known)
		}
	}
}

func TestExpiration(t *testing.T) {
	for _, c := range []struct {
		name  string
		exp   time.Duration // from now
		known bool
		want  time.Duration // from now
	}{
		{"far expiry: the cadence", time.Hour, true, maxLifetime},
		{"exp - 60 s at exactly now + 330 s", maxLifetime + expirySkew, true, maxLifetime},
		{"within 330 s + 60 s: 60 s before the token's", 5 * time.Minute, true, 5*time.Minute - expirySkew},
		{"61 s left: in 1 s", 61 * time.Second, true, time.Second},
		{"60 s left: late", expirySkew, true, lateRetry},
		{"10 s left: late", 10 * time.Second, true, lateRetry},
		{"expired: late", -time.Hour, true, lateRetry},
		{"unknown expiry", 0, false, maxLifetime},
	} {
		if got := expiration(now.Add(c.exp), c.known, now); !got.Equal(now.Add(c.want)) {
			t.Errorf("%s: expiration = now%+v, want now%+v", c.name, got.Sub(now), c.want)
		}
	}
}

func TestCredential(t *testing.T) {
	token := jwt(`{"exp":1796378400}`) // 2026-12-04T10:00:00Z, an hour after now
	got := string(credential(token, "", now))
	want := `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token +
		`","expirationTimestamp":"2026-12-04T09:00:00Z"}}` + "\n" // now + 330 s, UTC, whole seconds
	if got != want {
		t.Errorf("credential =\n%s want\n%s", got, want)
	}
	late := string(credential(token, `{"apiVersion":"client.authentication.k8s.io/v1beta1"}`, time.Date(2026, 12, 4, 9, 59, 30, 0, time.UTC)))
	if !strings.HasPrefix(late, `{"apiVersion":"client.authentication.k8s.io/v1beta1",`) || !strings.Contains(late, `"expirationTimestamp":"2026-12-04T10:00:00Z"`) {
		t.Errorf("late v1beta1 credential = %s", late)
	}
	near := string(credential(token, "", time.Date(2026, 12, 4, 9, 56, 0, 0, time.UTC)))
	if !strings.Contains(near, `"expirationTimestamp":"2026-12-04T09:59:00Z"`) {
		t.Errorf("credential 4 minutes before exp = %s, want exp - 60 s", near)
	}
	odd := `a<b>&"c\`
	var parsed execCredential
	if err := json.Unmarshal(credential(odd, "", now), &parsed); err != nil || parsed.Status.Token != odd {
		t.Errorf("token %q came back as %q (%v)", odd, parsed.Status.Token, err)
	}
}

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, noEnv, clock, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunTokenFile(t *testing.T) {
	token := jwt(`{"exp":1796378400}`)
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("\n "+token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := string(credential(token, "", now))
	for _, args := range [][]string{{"--token-file", path}, {"--token-file=" + path}} {
		code, stdout, stderr := runArgs(args...)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0, %q, nothing", args, code, stdout, stderr, want)
		}
	}
	var out bytes.Buffer
	env := func(k string) string {
		if k == "KUBERNETES_EXEC_INFO" {
			return `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}`
		}
		return ""
	}
	if code := run([]string{"--token-file", path}, env, clock, &out, &bytes.Buffer{}); code != 0 || !strings.Contains(out.String(), apiV1beta) {
		t.Errorf("with KUBERNETES_EXEC_INFO v1beta1: exit %d, %s", code, out.String())
	}
}

func TestRunTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, []byte(" \n\t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := "s3cr3t-token-content"
	unreadable := filepath.Join(dir, "unreadable")
	if err := os.WriteFile(unreadable, []byte(secret), 0o000); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		filepath.Join(dir, "missing"): "no such file or directory",
		dir:                           "is a directory",
		blank:                         "the file is empty",
	}
	if os.Geteuid() != 0 { // root reads a mode-0 file
		cases[unreadable] = "permission denied"
	}
	for path, reason := range cases {
		code, stdout, stderr := runArgs("--token-file", path)
		want := "mcsa-credential: cannot read token file " + path + ": " + reason + "; is the import's Secret mounted there?\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1, nothing, %q", path, code, stdout, stderr, want)
		}
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("%s: the file's content was printed", path)
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"--token-file"}, {"--token-file", ""}, {"--token-file="}, {"--install"}, {"--imports-dir"}, {"--imports-dir="}, {"--unknown", "x"},
		{"--unknown=x"}, {"-h"}, {"--help"}, {"--version", "x"}, {"--version=1"}, {"token"}, {"--token-file", "a", "b"},
		{"--token-file", "a", "--install", "b"}, {"--install", "b", "--token-file", "a"},
	} {
		code, stdout, stderr := runArgs(args...)
		if code != 2 || stdout != "" || stderr != usage {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, the usage", args, code, stdout, stderr)
		}
	}
}

func TestRunVersion(t *testing.T) {
	if code, stdout, stderr := runArgs("--version"); code != 0 || stdout != "mcsa-credential dev\n" || stderr != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestInstall(t *testing.T) {
	dir, src := t.TempDir(), filepath.Join(t.TempDir(), "program")
	for _, content := range []string{"first", "second, over a read-only first"} {
		if err := os.WriteFile(src, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		dest, err := install(src, dir)
		if err != nil || dest != filepath.Join(dir, "mcsa-credential") {
			t.Fatalf("install = %q, %v", dest, err)
		}
		got, err := os.ReadFile(dest)
		info, _ := os.Stat(dest)
		if err != nil || string(got) != content || info.Mode().Perm() != 0o555 {
			t.Errorf("installed %q, mode %v (%v); want %q, 0555", got, info.Mode().Perm(), err, content)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d files in the directory, want only mcsa-credential (no temporary file left)", len(entries))
		}
	}
	if _, err := install(src, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("install into a missing directory: %v, want not exist", err)
	}
	if _, err := install(filepath.Join(dir, "no-program"), dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("install of a missing program: %v, want not exist", err)
	}
}

func TestRunInstall(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runArgs("--install", dir)
	dest := filepath.Join(dir, "mcsa-credential")
	if code != 0 || stdout != "" || stderr != "mcsa-credential: installed "+dest+"\n" {
		t.Fatalf("--install: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	self, _ := os.Executable()
	a, _ := os.Stat(self)
	b, err := os.Stat(dest)
	if err != nil || a.Size() != b.Size() {
		t.Errorf("installed %v (%v), want a copy of %s", b, err, self)
	}
	code, _, stderr = runArgs("--install", filepath.Join(dir, "missing"))
	if code != 1 || !strings.HasPrefix(stderr, "mcsa-credential: cannot install into "+filepath.Join(dir, "missing")+": ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--install into a missing directory: exit %d, stderr %q", code, stderr)
	}
}

// The program as a process: exit codes, and an installed copy that runs (the test binary is the program).
func TestProcess(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("opaque\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	process := func(program string, args ...string) (int, string, string) {
		cmd := exec.Command(program, args...)
		cmd.Env = append(os.Environ(), "MCSA_CREDENTIAL_TEST_MAIN=1", `KUBERNETES_EXEC_INFO={"apiVersion":"client.authentication.k8s.io/v1beta1"}`)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := process(self, "--install", bin); code != 0 {
		t.Fatalf("--install: exit %d, %s", code, stderr)
	}
	installed := filepath.Join(bin, "mcsa-credential")
	code, stdout, _ := process(installed, "--token-file", path)
	var c execCredential
	if code != 0 || json.Unmarshal([]byte(stdout), &c) != nil || c.APIVersion != apiV1beta || c.Status.Token != "opaque" {
		t.Errorf("installed copy --token-file: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := process(installed, "--token-file", filepath.Join(dir, "missing")); code != 1 || stdout != "" {
		t.Errorf("missing token file: exit %d, stdout %q; want 1, nothing", code, stdout)
	}
	if code, _, _ := process(installed); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
}

// mountImport writes dir/<import>/{token,server} as the webhook's volume shows an import's Secret.
func mountImport(t *testing.T, dir, importName, server, token string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, importName), 0o755); err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{tokenKey: token, serverKey: server} {
		if err := os.WriteFile(filepath.Join(dir, importName, key), []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func execInfo(server string) func(string) string {
	return func(k string) string {
		if k != "KUBERNETES_EXEC_INFO" {
			return ""
		}
		return `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,` +
			`"cluster":{"server":"` + server + `","certificate-authority-data":"Q0E=","config":{"any":"thing"}}}}`
	}
}

func TestRunImportsDir(t *testing.T) {
	dir := t.TempDir()
	token2, token3 := jwt(`{"exp":1796378400}`), jwt(`{"exp":1796378500}`)
	mountImport(t, dir, "cluster2", "https://127.0.0.2:6443", token2)
	mountImport(t, dir, "cluster3", "https://127.0.0.3:6443/\n", token3)
	mountImport(t, dir, ".hidden", "https://127.0.0.2:6443", "other")
	for server, token := range map[string]string{
		"https://127.0.0.2:6443": token2, "https://127.0.0.2:6443/": token2, "https://127.0.0.3:6443": token3,
	} {
		var out, errs bytes.Buffer
		code := run([]string{"--imports-dir", dir}, execInfo(server), clock, &out, &errs)
		if want := string(credential(token, execInfo(server)("KUBERNETES_EXEC_INFO"), now)); code != 0 || out.String() != want || errs.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0, %q", server, code, out.String(), errs.String(), want)
		}
	}
}

func TestRunImportsDirErrors(t *testing.T) {
	dir := t.TempDir()
	secret := jwt(`{"sub":"s3cr3t"}`)
	mountImport(t, dir, "a", "https://127.0.0.2:6443", secret)
	mountImport(t, dir, "b", "https://127.0.0.2:6443", secret)
	mountImport(t, dir, "c", "https://127.0.0.3:6443", "")
	withInfo := func(info string) func(string) string {
		return func(k string) string {
			if k == "KUBERNETES_EXEC_INFO" {
				return info
			}
			return ""
		}
	}
	for _, c := range []struct {
		name, dir string
		env       func(string) string
		want      string
	}{
		{"no exec info", dir, noEnv, "KUBERNETES_EXEC_INFO is not set: run me as a kubeconfig exec plugin"},
		{"not JSON", dir, withInfo("{"), "KUBERNETES_EXEC_INFO is not an ExecCredential in JSON"},
		{"no cluster", dir, withInfo(`{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`),
			"KUBERNETES_EXEC_INFO has no spec.cluster.server: set provideClusterInfo: true in the exec config"},
		{"no such server", dir, execInfo("https://127.0.0.4:6443"),
			"no import mounted in " + dir + " is for server https://127.0.0.4:6443; annotate the pod with an import of that cluster"},
		{"two imports", dir, execInfo("https://127.0.0.2:6443"),
			"imports a, b, mounted in " + dir + ", are all for server https://127.0.0.2:6443; mount only one import per cluster"},
		{"empty token", dir, execInfo("https://127.0.0.3:6443"),
			"cannot read token file " + filepath.Join(dir, "c", "token") + ": the file is empty; is the import's Secret mounted there?"},
		{"no directory", filepath.Join(dir, "none"), execInfo("https://127.0.0.2:6443"),
			"cannot read " + filepath.Join(dir, "none") + ": no such file or directory; does the pod ask for an import (annotation multicluster.admiralty.io/service-account-import.name)?"},
	} {
		var out, errs bytes.Buffer
		code := run([]string{"--imports-dir=" + c.dir}, c.env, clock, &out, &errs)
		if code != 1 || out.Len() != 0 || errs.String() != "mcsa-credential: "+c.want+"\n" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1, nothing, %q", c.name, code, out.String(), errs.String(), c.want)
		}
		if strings.Contains(errs.String(), secret) {
			t.Errorf("%s: a token was printed", c.name)
		}
	}
}
