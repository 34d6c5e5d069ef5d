package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
)

// TestMain gives the tests (and the processes they start) their own state directory:
// demo token files, pinned server fingerprints and generated certificates never touch
// the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twinflow-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	os.Unsetenv("TWINFLOW_TOKEN")
	os.Unsetenv("TWINFLOW_AS")
	os.Unsetenv("TWINFLOW_TOKEN_DIR")
	os.Unsetenv("TWINFLOW_CA")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// seedUsers creates users ("name=role,role") in the repository at dsn, as
// `twinflow user create` does before a non-demo serve, and returns a token of each (a
// user that exists already gets a new token).
func seedUsers(t *testing.T, dsn string, users ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := auth.New(st.Users(), st.Tokens(), auth.Options{})
	out := map[string]string{}
	for _, u := range users {
		name, roles, _ := strings.Cut(u, "=")
		rs, err := auth.ParseRoles(roles)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.User(ctx, name); errors.Is(err, repository.ErrNotFound) {
			if _, err := a.CreateUser(ctx, name, rs, ""); err != nil {
				t.Fatal(err)
			}
		}
		secret, _, err := a.CreateToken(ctx, name, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = secret
	}
	return out
}

// saveTokens writes token files for the server at addr (host:port, or a URL) where the
// CLI looks for them (as `serve --demo` does), so `--as NAME` works in tests.
func saveTokens(t *testing.T, addr string, tokens map[string]string) {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		addr = u.Host
	}
	dir := auth.DemoTokenDir(addr)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, secret := range tokens {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
