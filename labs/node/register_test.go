package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/models/ztp"
)

// TestRegistrar: a registration is retried while the controller is unavailable (5xx),
// stops at a refusal (4xx), carries the bearer token, and is checked before it is sent.
func TestRegistrar(t *testing.T) {
	var calls atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var reg ztp.Registration
		if r.URL.Path != node.RegisterPath || r.Header.Get("Authorization") != "Bearer tok" || json.NewDecoder(r.Body).Decode(&reg) != nil || reg.Name != "leaf-1" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if calls.Load() >= 3 {
			w.WriteHeader(int(status.Load()))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := ztp.Registration{Name: "leaf-1", Address: "127.0.0.1:9339", Ports: []string{"eth1"}}
	rg := &node.Registrar{URL: srv.URL, Token: "tok", MaxWait: 20 * time.Millisecond}
	status.Store(http.StatusAccepted)
	if err := rg.Register(ctx, reg); err != nil || calls.Load() != 3 {
		t.Fatalf("register: %v after %d calls, want success on the third", err, calls.Load())
	}
	calls.Store(10)
	status.Store(http.StatusForbidden)
	if err := rg.Register(ctx, reg); err == nil || calls.Load() != 11 {
		t.Fatalf("a 403 was retried or accepted: %v (%d calls)", err, calls.Load())
	}
	if err := rg.Register(ctx, ztp.Registration{Name: "a b", Address: "127.0.0.1:1", Ports: []string{"e"}}); !errors.Is(err, ztp.ErrInvalid) || calls.Load() != 11 {
		t.Fatalf("an invalid registration was sent: %v", err)
	}
	if err := (&node.Registrar{URL: "ftp://x", Token: "t"}).Register(ctx, reg); err == nil {
		t.Fatal("an ftp URL was accepted")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "\n", "two": "a b\n", "big": string(make([]byte, 5000))} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := node.ReadToken(p); err == nil {
			t.Errorf("token file %s accepted", name)
		}
	}
	p := filepath.Join(dir, "ok")
	_ = os.WriteFile(p, []byte("  secret\n"), 0o600)
	if tok, err := node.ReadToken(p); err != nil || tok != "secret" {
		t.Fatalf("token %q %v", tok, err)
	}
}
