package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
)

// authServer records the Authorization header of every request.
func authServer(t *testing.T) (*httptest.Server, func() string) {
	t.Helper()
	var mu sync.Mutex
	last := "<none>"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.Close)
	return s, func() string { mu.Lock(); defer mu.Unlock(); return last }
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sent is the Authorization header a client built from o sends to s.
func sent(t *testing.T, o Options, s *httptest.Server, last func() string) string {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	if err := c.Get(context.Background(), "/x", nil); err != nil {
		t.Fatal(err)
	}
	return last()
}

// TestTokenSelectionOrder: TokenFile, then As, then Token, then the token directory's
// alice or only file (REQ-SEC-01).
func TestTokenSelectionOrder(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s, last := authServer(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "alice"), "tok-alice\n")
	writeFile(t, filepath.Join(dir, "bob"), "tok-bob")
	file := writeFile(t, filepath.Join(t.TempDir(), "tf"), "  tok-file \n")
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"token file wins", Options{TokenFile: file, As: "bob", Token: "tok-env", TokenDir: dir}, "Bearer tok-file"},
		{"as before token", Options{As: "BOB", Token: "tok-env", TokenDir: dir}, "Bearer tok-bob"},
		{"token before directory", Options{Token: "tok-env", TokenDir: dir}, "Bearer tok-env"},
		{"directory's alice", Options{TokenDir: dir}, "Bearer tok-alice"},
		{"nothing", Options{TokenDir: filepath.Join(dir, "missing")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Server = s.URL
			if got := sent(t, tc.o, s, last); got != tc.want {
				t.Fatalf("sent %q, want %q", got, tc.want)
			}
		})
	}

	only := t.TempDir()
	writeFile(t, filepath.Join(only, "carol"), "tok-carol")
	writeFile(t, filepath.Join(only, "dave.tmp-1234"), "half-written")
	if got := sent(t, Options{Server: s.URL, TokenDir: only}, s, last); got != "Bearer tok-carol" {
		t.Fatalf("a directory's only token file: sent %q", got)
	}
	two := t.TempDir()
	writeFile(t, filepath.Join(two, "carol"), "tok-carol")
	writeFile(t, filepath.Join(two, "dave"), "tok-dave")
	if got := sent(t, Options{Server: s.URL, TokenDir: two}, s, last); got != "" {
		t.Fatalf("two token files and no alice: sent %q, want none", got)
	}
}

// TestLoopbackDemoTokens: with no token directory, a loopback server's demo directory
// is used; a remote server gets none.
func TestLoopbackDemoTokens(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s, last := authServer(t)
	u, _ := url.Parse(s.URL)
	if got, want := DemoTokenDir(u), auth.DemoTokenDir(u.Host); got != want {
		t.Fatalf("DemoTokenDir = %s, want %s", got, want)
	}
	writeFile(t, filepath.Join(DemoTokenDir(u), "alice"), "tok-demo")
	if got := sent(t, Options{Server: s.URL}, s, last); got != "Bearer tok-demo" {
		t.Fatalf("sent %q, want the demo's alice", got)
	}
	if got := sent(t, Options{Server: s.URL, As: "alice"}, s, last); got != "Bearer tok-demo" {
		t.Fatalf("--as alice: sent %q", got)
	}
	if _, err := New(Options{Server: "https://tf.example.net", As: "alice"}); !isOptionError(err) || !strings.Contains(err.Error(), "no token directory for tf.example.net") {
		t.Fatalf("As for a remote server without a token directory: %v", err)
	}
	for _, u := range []string{"http://localhost:1", "http://127.0.0.1:2", "http://[::1]:3"} {
		p, _ := url.Parse(u)
		if !Loopback(p) {
			t.Errorf("Loopback(%s) = false", u)
		}
	}
	p, _ := url.Parse("https://192.0.2.1")
	if Loopback(p) || HostPort(p) != "192.0.2.1:443" {
		t.Fatalf("Loopback/HostPort of %s: %v %s", p, Loopback(p), HostPort(p))
	}
}

func isOptionError(err error) bool {
	var oe *OptionError
	return errors.As(err, &oe)
}

// TestOptionErrors: malformed options are refused before any request, as OptionErrors.
func TestOptionErrors(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	dir := t.TempDir()
	notPEM := writeFile(t, filepath.Join(dir, "ca.pem"), "not a certificate")
	big := writeFile(t, filepath.Join(dir, "big"), strings.Repeat("x", MaxTokenFile+1))
	two := writeFile(t, filepath.Join(dir, "two"), "a b")
	for _, tc := range []struct {
		o      Options
		want   string
		option bool
	}{
		{Options{Server: "127.0.0.1:8080"}, "--server must be an http(s) URL", true},
		{Options{Server: "ftp://h/"}, "--server must be an http(s) URL", true},
		{Options{Server: "http://127.0.0.1:1", TokenDir: dir, As: "../etc"}, "--as must be a user name", true},
		{Options{Server: "http://127.0.0.1:1", TokenDir: dir, As: ".."}, "--as must be a user name", true},
		{Options{Server: "http://127.0.0.1:1", TokenDir: dir, As: "mallory"}, "no token file", true},
		{Options{Server: "https://127.0.0.1:1", CAFile: notPEM}, "--ca: no PEM certificates", true},
		{Options{Server: "https://127.0.0.1:1", CAFile: filepath.Join(dir, "none")}, "--ca:", true},
		{Options{Server: "http://127.0.0.1:1", TokenFile: big}, "not a token file", false},
		{Options{Server: "http://127.0.0.1:1", TokenFile: two}, "not a token file", false},
	} {
		c, err := New(tc.o)
		if err == nil || c != nil || !strings.Contains(err.Error(), tc.want) || isOptionError(err) != tc.option {
			t.Errorf("New(%+v) = %v, %v; want an error with %q (option error: %v)", tc.o, c, err, tc.want, tc.option)
		}
	}
}

// TestProblems: error responses become *Problem, problem+json or not.
func TestProblems(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/invalid":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(422)
			_, _ = io.WriteString(w, `{"status":422,"type":"about:blank","title":"Invalid network","detail":"no such device","field":"links[0].a","request_id":"r1"}`)
		case "/boom":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"status":500,"title":"Internal error","request_id":"r2"}`)
		case "/proxy":
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "upstream down\n")
		case "/auth":
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"status":401,"title":"Unauthorized","detail":"no token"}`)
		}
	}))
	defer s.Close()
	c, err := New(Options{Server: s.URL + "/", UnauthorizedHint: "log in first", TokenDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Base() != s.URL {
		t.Fatalf("Base = %s, want %s (no trailing slash)", c.Base(), s.URL)
	}
	ctx := context.Background()
	get := func(path string) *Problem {
		t.Helper()
		err := c.Get(ctx, path, nil)
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("GET %s: %v (%T), want a *Problem", path, err, err)
		}
		return p
	}
	p := get("/invalid")
	if p.Status != 422 || p.Field != "links[0].a" || p.RequestID != "r1" ||
		p.Error() != "Invalid network (HTTP 422): no such device\n  field: links[0].a" {
		t.Fatalf("422: %+v / %q", p, p.Error())
	}
	if p := get("/boom"); p.Error() != "Internal error (HTTP 500)\n  request id: r2" {
		t.Fatalf("500: %q", p.Error())
	}
	if p := get("/proxy"); p.Status != 502 || p.Title != "Bad Gateway" || p.Detail != "upstream down" {
		t.Fatalf("non-JSON 502: %+v", p)
	}
	if p := get("/auth"); p.Detail != "no token\n  log in first" {
		t.Fatalf("401 hint: %q", p.Detail)
	}
}

// TestRequests: Do sends JSON with the headers given and decodes the answer; Post and
// ListAll follow pages.
func TestRequests(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/echo":
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("If-Match") != `"7"` {
				w.WriteHeader(400)
				return
			}
			var in map[string]int
			_ = json.NewDecoder(r.Body).Decode(&in)
			w.Header().Set("ETag", `"8"`)
			_ = json.NewEncoder(w).Encode(map[string]int{"n": in["n"] + 1})
		case r.URL.Path == "/items":
			if r.URL.Query().Get("limit") != "1000" {
				w.WriteHeader(400)
				return
			}
			tok := r.URL.Query().Get("page_token")
			next := map[string]string{"": "p 2", "p 2": "p3", "p3": ""}[tok]
			_, _ = fmt.Fprintf(w, `{"items":["%s-a","%s-b"],"next_page_token":%q}`, tok, tok, next)
		}
	}))
	defer s.Close()
	c, err := New(Options{Server: s.URL, TokenDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out map[string]int
	h, err := c.Do(ctx, http.MethodPost, "/echo", map[string]int{"n": 41}, map[string]string{"If-Match": `"7"`}, &out)
	if err != nil || out["n"] != 42 || h.Get("ETag") != `"8"` {
		t.Fatalf("Do: %v %v %v", err, out, h)
	}
	if err := c.Post(ctx, "/echo", map[string]int{"n": 1}, &out); err == nil {
		t.Fatal("Post without If-Match: want the server's 400")
	}
	items, err := ListAll[string](ctx, c, "/items")
	if err != nil || strings.Join(items, ",") != "-a,-b,p 2-a,p 2-b,p3-a,p3-b" {
		t.Fatalf("ListAll: %v %v", items, err)
	}
}

// TestUnreachable names the server and the hint.
func TestUnreachable(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	c, err := New(Options{Server: url, TokenDir: t.TempDir(), UnreachableHint: "start one"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Get(context.Background(), "/", nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the twinflow server at "+url) || !strings.HasSuffix(err.Error(), "\n  start one") {
		t.Fatalf("unreachable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Get(ctx, "/", nil); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("canceled: %v", err)
	}
}

// TestTLSPinning: a certificate no root vouches for is pinned on first use, accepted
// while unchanged, refused once it differs; with CAFile it is verified and never
// pinned (docs/security.md, TLS).
func TestTLSPinning(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }))
	defer s.Close()
	known := filepath.Join(t.TempDir(), "state", "known_servers")
	var notices strings.Builder
	o := Options{Server: s.URL, TokenDir: t.TempDir(), KnownServers: known, Notices: &notices}
	get := func(o Options) error {
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return c.Get(context.Background(), "/", nil)
	}
	if err := get(o); err != nil {
		t.Fatalf("first use: %v", err)
	}
	u, _ := url.Parse(s.URL)
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Fields(string(b))
	if len(line) != 2 || line[0] != u.Host || len(line[1]) != 64 {
		t.Fatalf("known_servers = %q", b)
	}
	if !strings.Contains(notices.String(), "trusting "+u.Host+" on first use: certificate SHA-256 "+line[1]) {
		t.Fatalf("notice: %q", notices.String())
	}
	notices.Reset()
	if err := get(o); err != nil || notices.Len() != 0 {
		t.Fatalf("pinned and unchanged: %v, notice %q", err, notices.String())
	}

	// the pinned fingerprint differs: refused, nothing re-pinned
	other := u.Host + " " + strings.Repeat("ab", 32) + "\n"
	writeFile(t, known, other)
	err = get(o)
	if !errors.Is(err, ErrCertificateChanged) || !strings.Contains(err.Error(), "CHANGED") {
		t.Fatalf("changed certificate: %v", err)
	}
	if b, _ := os.ReadFile(known); string(b) != other {
		t.Fatalf("known_servers rewritten after a refusal: %q", b)
	}

	// CAFile: verified against it, no pin needed or written
	ca := writeFile(t, filepath.Join(t.TempDir(), "ca.pem"),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})))
	o2 := Options{Server: s.URL, TokenDir: o.TokenDir, CAFile: ca, KnownServers: filepath.Join(t.TempDir(), "ks")}
	if err := get(o2); err != nil {
		t.Fatalf("with --ca: %v", err)
	}
	if _, err := os.Stat(o2.KnownServers); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("--ca pinned: %v", err)
	}
	// a server with another certificate: refused against the CA, refused against the
	// pin of its host:port, pinned once the stale line is gone
	s2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{}`) }))
	s2.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	s2.StartTLS()
	defer s2.Close()
	o2.Server = s2.URL
	if err := get(o2); err == nil || strings.Contains(err.Error(), "HTTP") {
		t.Fatalf("a server the CA did not sign: %v", err)
	}
	u2, _ := url.Parse(s2.URL)
	sum := sha256.Sum256(s.Certificate().Raw)
	writeFile(t, known, u2.Host+" "+hex.EncodeToString(sum[:])+"\n")
	o.Server = s2.URL
	if err := get(o); !errors.Is(err, ErrCertificateChanged) {
		t.Fatalf("another certificate on a pinned host:port: %v", err)
	}
	writeFile(t, known, "")
	notices.Reset()
	if err := get(o); err != nil || !strings.Contains(notices.String(), "on first use") {
		t.Fatalf("re-pinned after the line was deleted: %v %q", err, notices.String())
	}
}

// selfSigned is a fresh self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
