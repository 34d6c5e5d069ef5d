package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/server"
)

// TestServeRefusesWithoutUsers: outside --demo, serve does not start with no user
// configured, and says how to create one.
func TestServeRefusesWithoutUsers(t *testing.T) {
	db := "file:" + filepath.Join(t.TempDir(), "empty.db")
	err := server.Run(t.Context(), server.Config{Listen: "127.0.0.1:0", DB: db})
	if err == nil || !strings.Contains(err.Error(), "twinflow user create admin --role admin --db "+db) {
		t.Fatalf("serve without users: %v", err)
	}
}

// TestServeHTTPSAuth (issue #13's done-criteria, REQ-SEC-01/02): the binary without
// --demo, its users made with `twinflow user create`, serves HTTPS with a self-signed
// certificate whose fingerprint it prints; anonymous requests get 401, a viewer reads
// (200) but cannot propose (403); the CLI pins the certificate on first use and refuses
// a different one later.
func TestServeHTTPSAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(labBinaries(t), "twinflow")
	dir := t.TempDir()
	db := "file:" + filepath.Join(dir, "sec.db")
	out, err := exec.Command(bin, "user", "create", "Vera", "--role", "viewer", "--db", db, "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &created); err != nil || !strings.HasPrefix(created.Token, "tfk_") {
		t.Fatalf("user create -o json: %v %s", err, out)
	}
	tlsDir := filepath.Join(dir, "tls")
	s := serveBinary(t, bin, "--db="+db, "--tls-dir="+tlsDir)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("non-demo serve is not HTTPS: %s", s.URL)
	}
	pem, err := os.ReadFile(filepath.Join(tlsDir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pem, mustRead(t, filepath.Join(tlsDir, "server.pem")))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	fp := hex.EncodeToString(sum[:])
	if fi, err := os.Stat(filepath.Join(tlsDir, "server.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("server.pem mode: %v %v", fi.Mode(), err)
	}

	// a client that pins the printed fingerprint
	var seen string
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, //nolint:gosec // pinned below
		VerifyConnection: func(cs tls.ConnectionState) error {
			s := sha256.Sum256(cs.PeerCertificates[0].Raw)
			seen = hex.EncodeToString(s[:])
			if seen != fp {
				return errors.New("fingerprint mismatch")
			}
			return nil
		}}}}
	req := func(method, path, tok string) int {
		t.Helper()
		r, _ := http.NewRequest(method, s.URL+path, strings.NewReader(`{"kind":"raw-config"}`))
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := hc.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := req("GET", "/api/v1/twins/live/devices", ""); c != 401 {
		t.Errorf("anonymous: %d", c)
	}
	if c := req("GET", "/api/v1/twins/live/devices", created.Token); c != 200 {
		t.Errorf("viewer reads: %d", c)
	}
	if c := req("POST", "/api/v1/changes", created.Token); c != 403 {
		t.Errorf("viewer proposes: %d", c)
	}

	// the CLI: trust on first use (a notice names the fingerprint), then pinned
	tokFile := filepath.Join(dir, "vera.token")
	if err := os.WriteFile(tokFile, []byte(created.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, s.URL, "get", "devices", "--token-file", tokFile); code != 0 || !strings.Contains(errs, fp) {
		t.Fatalf("first use: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, s.URL, "get", "devices", "--token-file", tokFile); code != 0 || strings.Contains(errs, "trusting") {
		t.Fatalf("second use: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, s.URL, "get", "devices", "--token-file", tokFile, "--ca", filepath.Join(tlsDir, "cert.pem")); code != 0 {
		t.Fatalf("--ca: exit %d %s", code, errs)
	}
	// another server's certificate at the same address is refused
	host := strings.TrimPrefix(s.URL, "https://")
	pins := filepath.Join(auth.StateDir(), "known_servers")
	b := mustRead(t, pins)
	if err := os.WriteFile(pins, []byte(strings.ReplaceAll(string(b), host+" "+fp, host+" "+strings.Repeat("0", 64))), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, s.URL, "get", "devices", "--token-file", tokFile); code != 1 || !strings.Contains(errs, "CHANGED") {
		t.Fatalf("changed certificate: exit %d %s", code, errs)
	}
	if out, errs, code := cli(t, s.URL, "token", "list", "VERA", "--db", db); code != 0 || !strings.Contains(out, "first") || strings.Contains(out, "tfk_") {
		t.Fatalf("token list: %d %s %s", code, out, errs)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDemoIdentities (issue #13 item 3): serve --demo writes one 0600 token file per
// demo user; the CLI finds them by itself, acts as alice by default and as carla with
// --as; TWINFLOW_TOKEN and --token-file select an identity too; audit lists the
// denial for admins.
func TestDemoIdentities(t *testing.T) {
	srv, banner := startServer(t)
	dir := auth.DemoTokenDir(strings.TrimPrefix(srv, "http://"))
	if !strings.Contains(banner.String(), dir) {
		t.Errorf("banner does not name the token dir %s:\n%s", dir, banner.String())
	}
	for _, u := range []string{"admin", "alice", "carla"} {
		fi, err := os.Stat(filepath.Join(dir, u))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file %s: %v %v", u, fi, err)
		}
	}
	fork := strings.TrimSpace(mustCLI(t, srv, "fork")) // alice (engineer) may fork
	if _, errs, code := cli(t, srv, "fork", "--as", "carla"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Errorf("carla (approver) forks: exit %d %s", code, errs)
	}
	mustCLI(t, srv, "set", "link", "spine-0--leaf-0", "--capacity", "40", "--twin", fork)
	if _, errs, code := cli(t, srv, "set", "link", "spine-0--leaf-0", "--capacity", "40"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Errorf("alice writes the live twin: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "audit"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Errorf("alice reads the audit: exit %d %s", code, errs)
	}
	out := mustCLI(t, srv, "audit", "--as", "admin")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "denied") || !strings.Contains(out, "carla") {
		t.Errorf("audit:\n%s", out)
	}
	tokFile := filepath.Join(dir, "carla")
	if _, errs, code := cli(t, srv, "fork", "--token-file", tokFile); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Errorf("--token-file carla forks: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "get", "devices", "--as", "mallory"); code != 2 || !strings.Contains(errs, "no token file") {
		t.Errorf("--as an unknown user: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "get", "devices", "--token-file", filepath.Join(t.TempDir(), "none")); code == 0 {
		t.Errorf("missing --token-file: exit %d %s", code, errs)
	}
}
