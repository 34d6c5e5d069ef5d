package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the server's writes and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunAssemblesTheServer runs a server as a library caller would: the demo network
// in the live twin, the change pipeline and drift detector reachable through the API
// (not 503), the banner naming the database, and a clean stop that checkpoints the
// live twin into the repository (a second Run on the same DB restores it).
func TestRunAssemblesTheServer(t *testing.T) {
	db := "file:" + filepath.Join(t.TempDir(), "tf.db")
	tokens := t.TempDir() // the demo users' token files
	run := func(cfg Config, during func(base string)) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr := make(chan string, 1)
		done := make(chan error, 1)
		cfg.Listen, cfg.DB = "127.0.0.1:0", db
		cfg.Ready = func(a string) { addr <- a }
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		if cfg.Demo {
			cfg.Security.TokenDir = tokens
		} else {
			cfg.Security.PlainHTTP = true // on loopback; the demo's users exist in db
		}
		go func() { done <- Run(ctx, cfg) }()
		select {
		case a := <-addr:
			during("http://" + a)
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not start")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not stop")
		}
	}
	get := func(url string) (int, []byte) {
		t.Helper()
		tok, err := os.ReadFile(filepath.Join(tokens, "admin"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, b
	}
	var banner lockedBuffer
	run(Config{Demo: true, Banner: &banner, Changes: &ChangesConfig{}}, func(base string) {
		if code, body := get(base + "/api/v1/changes"); code != http.StatusOK {
			t.Errorf("GET /changes = %d %s; want 200 (the pipeline is wired)", code, body)
		}
		if code, body := get(base + "/api/v1/drift"); code != http.StatusOK {
			t.Errorf("GET /drift = %d %s; want 200 (the drift detector is wired)", code, body)
		}
		code, body := get(base + "/api/v1/twins/live/devices")
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Items) == 0 {
			t.Errorf("GET devices = %d %s; want the demo's devices", code, body)
		}
	})
	if b := banner.String(); !strings.Contains(b, "Database: "+db) || !strings.Contains(b, "TwinFlow API on http://127.0.0.1:") ||
		!strings.Contains(b, "twinflow ledger verify --db '"+db+"'") {
		t.Errorf("banner:\n%s", b)
	}
	// no pipeline: the change routes say so; the live twin was restored from the DB
	run(Config{}, func(base string) {
		if code, _ := get(base + "/api/v1/changes"); code != http.StatusServiceUnavailable {
			t.Errorf("GET /changes without a pipeline = %d; want 503", code)
		}
		code, body := get(base + "/api/v1/twins/live/devices")
		if code != http.StatusOK || !strings.Contains(string(body), "leaf-0") {
			t.Errorf("after a restart, devices = %d %s; want the restored demo network", code, body)
		}
	})
}

// TestRunRejectsABadConfig: an invalid Config starts nothing and wraps ErrConfig.
func TestRunRejectsABadConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"listen", Config{Listen: "nope"}, "Listen must be host:port"},
		{"retention", Config{Listen: "127.0.0.1:0", Retention: -time.Second}, "Retention must not be negative"},
		{"sample", Config{Listen: "127.0.0.1:0", Telemetry: &TelemetryConfig{Sample: 2 * time.Second}}, "Telemetry.Sample must be in (0, 1s]"},
		{"tls", Config{Listen: "127.0.0.1:0", GNMI: GNMIConfig{Insecure: true, SkipVerify: true}}, "GNMI:"},
		{"db", Config{Listen: "127.0.0.1:0", DB: "mysql://x"}, "DB:"},
	} {
		started := false
		c.cfg.Ready = func(string) { started = true }
		err := Run(context.Background(), c.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Run = %v; want ErrConfig naming %q", c.name, err, c.want)
		}
		if started {
			t.Errorf("%s: the server started", c.name)
		}
	}
}
