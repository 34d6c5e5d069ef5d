package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/twin"
	"log/slog"
	"regexp"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs `serve --demo` in-process on a free loopback port: every component
// except the stand-in network, which needs the twinflow-node binary (TestServeBinary
// runs the full demo with it).
func startServer(t *testing.T) (url string, banner *syncBuffer) {
	t.Helper()
	banner = &syncBuffer{}
	url = runServer(t, server.Config{Demo: true, Banner: banner,
		Changes: &server.ChangesConfig{DriftInterval: 500 * time.Millisecond}, Telemetry: &server.TelemetryConfig{}})
	return url, banner
}

// runServer runs server.Run with cfg in-process on a free loopback port (logs at warn
// to the test's output), stops it at the test's end, and returns the API's base URL.
func runServer(t *testing.T, cfg server.Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	cfg.Listen = "127.0.0.1:0"
	cfg.Ready = func(a string) { addr <- a }
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Outside the demo a server needs users: the README's three, created in its
	// repository first as `twinflow user create` does, with tokens saved where the CLI
	// finds them for this server (the demo writes its own); plain HTTP on loopback.
	var tokens map[string]string
	if !cfg.Demo {
		if cfg.DB == "" {
			cfg.DB = "file:" + filepath.Join(t.TempDir(), "server.db")
		}
		tokens = seedUsers(t, cfg.DB, "admin=admin", "alice=engineer,operator", "carla=approver")
		cfg.Security.PlainHTTP = true
	}
	go func() { done <- server.Run(ctx, cfg) }()
	exited := false
	t.Cleanup(func() {
		cancel()
		if exited {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	select {
	case a := <-addr:
		if tokens != nil {
			saveTokens(t, a, tokens)
		}
		return "http://" + a
	case err := <-done:
		exited = true
		t.Fatalf("serve: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

// cli runs one twinflow command line against server and returns stdout, stderr (as
// main prints it) and the exit code.
func cli(t *testing.T, server string, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"--server", server}, args...))
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("twinflow: " + err.Error() + "\n")
		return out.String(), errb.String(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

func mustCLI(t *testing.T, server string, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, server, args...)
	if code != 0 {
		t.Fatalf("twinflow %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// TestNewcomerStory is the demo story with the CLI: list devices, fork the twin,
// change a link capacity in the fork, see the parent unchanged; and the steps of the
// README tour where a newcomer got stuck (issue #12): the banner names the database
// and the exact `ledger verify` command, which works as printed (while a change has
// written the ledger); a GML file ships with the repository; `fork ID` says how to
// fork or delete that twin; `topology generate -f` says what it wrote.
func TestNewcomerStory(t *testing.T) {
	srv, banner := startServer(t)
	b := banner.String()
	if !strings.Contains(b, "Try next") || !strings.Contains(b, "twinflow fork") {
		t.Errorf("banner lacks the try-next block:\n%s", b)
	}
	m := regexp.MustCompile(`Database: temporary, (file:\S+twinflow\.db) `).FindStringSubmatch(b)
	if m == nil {
		t.Fatalf("the banner does not print the demo's database:\n%s", b)
	}
	if !strings.Contains(b, "twinflow ledger verify --db '"+m[1]+"'") {
		t.Errorf("the banner lacks the ledger command for %s:\n%s", m[1], b)
	}
	_, errs, code := cli(t, srv, "fork", "fork-99")
	if code != 2 || !strings.Contains(errs, "twinflow fork --twin fork-99") || !strings.Contains(errs, "twinflow fork delete fork-99") {
		t.Errorf("fork fork-99: exit %d: %s", code, errs)
	}
	gml := filepath.Join("..", "..", "labs", "gml", "us-backbone.gml")
	if out := mustCLI(t, srv, "topology", "import", "-f", gml); !strings.Contains(out, "VALID       true") || !strings.Contains(out, "DEVICES     6") {
		t.Errorf("import of the shipped GML file:\n%s", out)
	}
	gen := filepath.Join(t.TempDir(), "wan.gml")
	out, errs, code := cli(t, srv, "topology", "generate", "wan", "--n", "12", "--format", "gml", "-f", gen)
	if code != 0 || out != "" || !strings.Contains(errs, "wrote "+gen+": wan, 12 devices") {
		t.Errorf("topology generate -f: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out = mustCLI(t, srv, "get", "devices")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 15 || !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("get devices: %d lines (want header + 14):\n%s", len(lines), out)
	}
	fork := strings.TrimSpace(mustCLI(t, srv, "fork"))
	if fork != "fork-1" {
		t.Fatalf("fork printed %q", fork)
	}
	const link = "spine-0--leaf-0"
	out = mustCLI(t, srv, "set", "link", link, "--capacity", "40", "--twin", fork)
	if !strings.Contains(out, link) || !strings.Contains(out, " 40 ") {
		t.Errorf("set link output:\n%s", out)
	}
	capOf := func(args ...string) float64 {
		var l twin.Link
		if err := json.Unmarshal([]byte(mustCLI(t, srv, append(args, "-o", "json")...)), &l); err != nil {
			t.Fatal(err)
		}
		return l.CapacityGbps
	}
	if got := capOf("get", "link", link, "--twin", fork); got != 40 {
		t.Errorf("fork capacity %v; want 40", got)
	}
	if got := capOf("get", "link", link); got != 100 {
		t.Errorf("live capacity %v; want 100 (unchanged)", got)
	}
	var twins []twin.Info
	if err := json.Unmarshal([]byte(mustCLI(t, srv, "get", "twins", "-o", "json")), &twins); err != nil {
		t.Fatal(err)
	}
	if len(twins) != 2 || twins[0].ID != "live" || twins[1].Parent != "live" {
		t.Errorf("twins %+v", twins)
	}
	if out := mustCLI(t, srv, "get", "observed-links"); !strings.HasPrefix(out, "LINK") {
		t.Errorf("get observed-links:\n%s", out)
	}
	out = mustCLI(t, srv, "get", "flows", "-o", "yaml")
	if !strings.Contains(out, "src: h-0-0") {
		t.Errorf("flows yaml:\n%s", out)
	}

	// apply -f in the fork: all or nothing.
	dir := t.TempDir()
	good := filepath.Join(dir, "add.yaml")
	writeTestFile(t, good, `devices:
  - id: r9
    type: packet-router
    endpoints: [{id: e1}]
  - id: r10
    type: packet-router
    endpoints: [{id: e1}]
links:
  - id: r9--r10
    endpoints: [{device: r9, endpoint: e1}, {device: r10, endpoint: e1}]
    capacity_gbps: 10
`)
	out = mustCLI(t, srv, "apply", "-f", good, "--twin", fork)
	if strings.Count(out, "created") != 3 {
		t.Errorf("apply output:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.json")
	writeTestFile(t, bad, `{"devices":[{"id":"r11","type":"packet-router","endpoints":[{"id":"e1"}]}],
"links":[{"id":"r11--ghost","endpoints":[{"device":"r11","endpoint":"e1"},{"device":"ghost","endpoint":"e1"}],"capacity_gbps":1}]}`)
	_, errs, code = cli(t, srv, "apply", "-f", bad, "--twin", fork)
	if code != 1 || !strings.Contains(errs, "nothing was applied") || !strings.Contains(errs, "field: links[r11--ghost].endpoints[1].device") {
		t.Errorf("bad apply: exit %d: %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "get", "device", "r11", "--twin", fork); code != 1 || !strings.Contains(errs, "Not found") {
		t.Errorf("partial apply visible: exit %d %s", code, errs)
	}
	if _, _, code := cli(t, srv, "get", "device", "r9"); code != 1 {
		t.Errorf("apply in fork reached live")
	}
	// the live twin's intended state: alice (the default demo identity) may not write
	// it directly; the admin may (issue #13)
	_, errs, code = cli(t, srv, "delete", "flow", "flow-1")
	if code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Errorf("alice deletes a live flow: exit %d %s", code, errs)
	}
	_, errs, code = cli(t, srv, "delete", "device", "spine-0", "--as", "admin")
	if code != 1 || !strings.Contains(errs, `still used by link`) {
		t.Errorf("delete in-use device: exit %d %s", code, errs)
	}
	_, errs, code = cli(t, srv, "fork", "delete", "live", "--as", "admin")
	if code != 1 || !strings.Contains(errs, "cannot be deleted") {
		t.Errorf("delete live: exit %d %s", code, errs)
	}
	mustCLI(t, srv, "delete", "flow", "flow-1", "--as", "admin")
	mustCLI(t, srv, "fork", "delete", fork)
	if _, errs, code := cli(t, srv, "get", "devices", "--twin", fork); code != 1 || !strings.Contains(errs, "Twin not found") {
		t.Errorf("deleted fork still answers: exit %d %s", code, errs)
	}

	mtu := writeFile(t, "mtu.yaml", "label: jumbo\nkind: raw-config\ndevice_ops:\n  leaf-0:\n"+
		"    - {op: update, path: \"/interfaces/interface[name=eth1]/config/mtu\", value: 9000}\n")
	// (rejected without the stand-in network: the device has no address; the ledger
	// records the proposal and its validation all the same)
	if out, errs, _ := cli(t, srv, "change", "propose", "-f", mtu); !strings.Contains(out, "change chg-") {
		t.Fatalf("propose: %s%s", out, errs)
	}
	if out := mustCLI(t, srv, "ledger", "verify", "--db", m[1]); !strings.Contains(out, "OK") {
		t.Errorf("ledger verify, as the banner prints it:\n%s", out)
	}
	if out := mustCLI(t, srv, "ledger", "head", "--db", m[1]); !regexp.MustCompile(`[0-9]+:[0-9a-f]{64}`).MatchString(out) {
		t.Errorf("ledger head:\n%s", out)
	}
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrors(t *testing.T) {
	srv, _ := startServer(t)
	for _, args := range [][]string{
		{"get"}, {"get", "widgets"}, {"get", "devices", "a", "b"}, {"get", "devices", "--bogus"},
		{"--output", "xml", "get", "devices"}, {"set", "link", "x"}, {"set", "link", "x", "--capacity", "fast"},
		{"apply"}, {"apply", "-f", "x.json", "extra"}, {"delete", "device"}, {"fork", "oops"},
		{"fork", "delete"}, {"serve", "--listen", "nocolon"}, {"serve", "--log-level", "loud"},
		{"delete", "observed-links", "x"}, {"get", "observed-interfaces", "x"},
		{"--server", "ftp://x", "get", "devices"},
	} {
		if _, errs, code := cli(t, srv, args...); code != 2 {
			t.Errorf("twinflow %s: exit %d; want 2 (%s)", strings.Join(args, " "), code, errs)
		}
	}
	_, errs, code := cli(t, "http://127.0.0.1:1", "get", "devices")
	if code != 1 || !strings.Contains(errs, "cannot reach the twinflow server") {
		t.Errorf("unreachable server: exit %d %s", code, errs)
	}
	_, errs, code = cli(t, srv, "set", "link", "spine-0--leaf-0", "--capacity", "-3", "--as", "admin")
	if code != 1 || !strings.Contains(errs, "field: capacity_gbps") {
		t.Errorf("invalid capacity: exit %d %s", code, errs)
	}
}

// TestServeBinary runs the newcomer's story against the real demo: the built twinflow
// binary (with twinflow-node next to it, so the demo's stand-in network runs too) is
// started with `serve --demo`, the story is told with the CLI binary, and SIGINT must
// shut the server down gracefully (exit 0).
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	bin := filepath.Join(labBinaries(t), "twinflow")
	srv := serveBinary(t, bin, "--demo")
	server := srv.URL
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--server", server}, args...)...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("twinflow %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatalf("twinflow %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	if out := run("get", "devices"); strings.Count(out, "\n") != 15 {
		t.Errorf("get devices:\n%s", out)
	}
	fork := strings.TrimSpace(run("fork"))
	run("set", "link", "spine-0--leaf-0", "--capacity", "40", "--twin", fork)
	if out := run("get", "link", "spine-0--leaf-0", "--twin", fork, "-o", "json"); !strings.Contains(out, `"capacity_gbps": 40`) {
		t.Errorf("fork link:\n%s", out)
	}
	if out := run("get", "link", "spine-0--leaf-0", "-o", "json"); !strings.Contains(out, `"capacity_gbps": 100`) {
		t.Errorf("live link changed:\n%s", out)
	}
	// The stand-in network's telemetry reaches the live twin's observed state.
	for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
		out := run("get", "observed-links", "-o", "json")
		if strings.Contains(out, `"id": "spine-0--leaf-0"`) {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no observed link state after 30s:\n%s", out)
		}
	}
	if err := srv.Stop(syscall.SIGINT); err != nil {
		t.Errorf("serve exit after SIGINT: %v; stderr: %s", err, srv.Stderr.String())
	}
	if !strings.Contains(srv.Stderr.String(), "shutting down") {
		t.Errorf("no graceful shutdown log: %s", srv.Stderr.String())
	}
}
