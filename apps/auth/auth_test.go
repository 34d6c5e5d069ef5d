package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/repository/pgtest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, dsn string) repository.Store {
	t.Helper()
	st, err := repository.Open(context.Background(), dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func stores(t *testing.T) map[string]repository.Store {
	out := map[string]repository.Store{"sqlite": open(t, "file:"+filepath.Join(t.TempDir(), "a.db"))}
	if os.Getenv("TWINFLOW_TEST_PG") != "" || os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") != "" {
		out["postgres"] = open(t, pgtest.DSN(t)) // a scratch database of its own
	}
	return out
}

func get(a *auth.Authenticator, hdr string) (*auth.Principal, error) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", hdr)
	return a.Authenticate(r)
}

// TestTokenLifecycle (REQ-SEC-01), on sqlite and PostgreSQL: a token works until it
// expires or is revoked; names are case-insensitive; roles come from the user.
func TestTokenLifecycle(t *testing.T) {
	for backend, st := range stores(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
			a := auth.New(st.Users(), st.Tokens(), auth.Options{Now: clk.now, CacheTTL: time.Minute})
			name := "Alice-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
			u, err := a.CreateUser(ctx, name, []auth.Role{auth.Engineer, auth.Operator}, "")
			if err != nil {
				t.Fatal(err)
			}
			if u.Name != strings.ToLower(name) || u.Role != "engineer,operator" {
				t.Fatalf("user %+v", u)
			}
			if _, err := a.CreateUser(ctx, strings.ToUpper(name), []auth.Role{auth.Viewer}, ""); !errors.Is(err, repository.ErrConflict) {
				t.Fatalf("same name in other case: %v", err)
			}
			secret, tok, err := a.CreateToken(ctx, strings.ToUpper(name), "ci", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := get(a, "Bearer "+secret)
			if err != nil || p.Name != u.Name || !p.Can(auth.Operate) || p.Can(auth.Approve) || p.TokenID != tok.ID {
				t.Fatalf("principal %+v, %v", p, err)
			}
			clk.t = clk.t.Add(time.Hour) // expired, though cached
			if _, err := get(a, "Bearer "+secret); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("expired token: %v", err)
			}
			// revocation: immediate through the Authenticator, and within the cache TTL
			// for another process's Authenticator on the same store
			secret2, tok2, err := a.CreateToken(ctx, name, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			other := auth.New(st.Users(), st.Tokens(), auth.Options{Now: clk.now, CacheTTL: time.Second})
			for _, x := range []*auth.Authenticator{a, other} {
				if _, err := get(x, "Bearer "+secret2); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.RevokeToken(ctx, tok2.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := get(a, "Bearer "+secret2); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("revoked token: %v", err)
			}
			clk.t = clk.t.Add(time.Second)
			if _, err := get(other, "Bearer "+secret2); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("revoked token after the other cache's TTL: %v", err)
			}
			list, err := a.Tokens(ctx, name)
			if err != nil || len(list) != 2 || !list[0].Revoked && !list[1].Revoked {
				t.Fatalf("tokens %+v %v", list, err)
			}
		})
	}
}

// TestTokenStoredHashed: the database file holds the token's SHA-256, never the secret;
// it holds the password's argon2id hash, never the password.
func TestTokenStoredHashed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	st := open(t, "file:"+path)
	a := auth.New(st.Users(), st.Tokens(), auth.Options{})
	const pw = "a long enough passphrase"
	if _, err := a.CreateUser(ctx, "bob", []auth.Role{auth.Viewer}, pw); err != nil {
		t.Fatal(err)
	}
	secret, _, err := a.CreateToken(ctx, "bob", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if bytes.Contains(all, []byte(secret)) || bytes.Contains(all, []byte(secret[len(auth.TokenPrefix):])) {
		t.Fatal("the token secret is stored in clear")
	}
	if !bytes.Contains(all, repository.HashToken(secret)) {
		t.Fatal("the token's hash is not stored (is the test reading the right file?)")
	}
	if bytes.Contains(all, []byte(pw)) || !bytes.Contains(all, []byte("$argon2id$v=19$")) {
		t.Fatal("the password is not stored as an argon2id hash")
	}
}

func TestPasswords(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.CheckPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := auth.CheckPassword(h, "correct horse battery!"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := auth.HashPassword("short"); err == nil {
		t.Fatal("short password accepted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=64,t=1,p=1$!$!"} {
		if ok, err := auth.CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("malformed hash %q: %v %v", bad, ok, err)
		}
	}
}

func TestNamesAndRoles(t *testing.T) {
	if n, err := auth.NormalizeName("Alice.Ops@Example"); err != nil || n != "alice.ops@example" {
		t.Fatalf("%q %v", n, err)
	}
	for _, bad := range []string{"", "a b", "al\x00ice", "ålice", strings.Repeat("a", 65), "a:b"} {
		if _, err := auth.NormalizeName(bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	rs, err := auth.ParseRoles("Operator, engineer,operator")
	if err != nil || auth.FormatRoles(rs) != "engineer,operator" {
		t.Fatalf("%v %v", rs, err)
	}
	for _, bad := range []string{"", ",", "root", "viewer,god"} {
		if _, err := auth.ParseRoles(bad); err == nil {
			t.Errorf("roles %q accepted", bad)
		}
	}
	var nobody *auth.Principal
	if nobody.Can(auth.Read) || !nobody.Can(auth.Public) {
		t.Fatal("nil principal")
	}
}

func TestLimiter(t *testing.T) {
	l := auth.NewLimiter(1, 2)
	a1, _ := l.Allow("a")
	a2, _ := l.Allow("a")
	a3, wait := l.Allow("a")
	b1, _ := l.Allow("b")
	if !a1 || !a2 || a3 || wait <= 0 || wait > time.Second || !b1 {
		t.Fatalf("%v %v %v %v %v", a1, a2, a3, wait, b1)
	}
	if ok, _ := auth.NewLimiter(-1, 0).Allow("x"); !ok {
		t.Fatal("disabled limiter refused")
	}
}

// BenchmarkAuthenticateToken is the per-request cost of a cached Bearer token: a
// SHA-256 and a map lookup (docs/benchmarks.md).
func BenchmarkAuthenticateToken(b *testing.B) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(b.TempDir(), "b.db"), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := auth.New(st.Users(), st.Tokens(), auth.Options{CacheTTL: time.Hour})
	if _, err := a.CreateUser(ctx, "bench", []auth.Role{auth.Viewer}, ""); err != nil {
		b.Fatal(err)
	}
	secret, _, err := a.CreateToken(ctx, "bench", "", 0)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Authenticate(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestUserAdministration (REQ-SEC-02), on sqlite and PostgreSQL: role changes, password
// changes and deletion take effect at once through the Authenticator that made them;
// the last admin can be neither demoted nor deleted; a failed call changes nothing.
func TestUserAdministration(t *testing.T) {
	for backend, st := range stores(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			a := auth.New(st.Users(), st.Tokens(), auth.Options{CacheTTL: time.Minute})
			if _, err := a.CreateUser(ctx, "root", []auth.Role{auth.Admin}, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := a.CreateUser(ctx, "bob", []auth.Role{auth.Engineer}, ""); err != nil {
				t.Fatal(err)
			}
			secret, _, err := a.CreateToken(ctx, "bob", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := get(a, "Bearer "+secret); err != nil || !p.Can(auth.Design) || p.Can(auth.Approve) {
				t.Fatalf("bob as engineer: %+v %v", p, err)
			}
			// a role change is seen at once, although the credential is cached for a minute
			if u, err := a.SetRoles(ctx, "BOB", []auth.Role{auth.Approver}); err != nil || u.Role != "approver" {
				t.Fatalf("set roles: %+v %v", u, err)
			}
			if p, err := get(a, "Bearer "+secret); err != nil || p.Can(auth.Design) || !p.Can(auth.Approve) {
				t.Fatalf("bob as approver: %+v %v", p, err)
			}
			if _, err := a.SetRoles(ctx, "bob", nil); err == nil {
				t.Fatal("no roles accepted")
			}
			// the last admin stays an admin
			if _, err := a.SetRoles(ctx, "root", []auth.Role{auth.Viewer}); !errors.Is(err, auth.ErrLastAdmin) {
				t.Fatalf("demoting the last admin: %v", err)
			}
			if _, err := a.DeleteUser(ctx, "root"); !errors.Is(err, auth.ErrLastAdmin) {
				t.Fatalf("deleting the last admin: %v", err)
			}
			if u, err := a.User(ctx, "root"); err != nil || u.Role != "admin" {
				t.Fatalf("root after refusals: %+v %v", u, err)
			}
			// with a second admin, the first may step down; then the second is the last
			if _, err := a.SetRoles(ctx, "bob", []auth.Role{auth.Admin}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.SetRoles(ctx, "root", []auth.Role{auth.Viewer}); err != nil {
				t.Fatalf("demoting one of two admins: %v", err)
			}
			if _, err := a.DeleteUser(ctx, "bob"); !errors.Is(err, auth.ErrLastAdmin) {
				t.Fatalf("deleting the new last admin: %v", err)
			}
			// passwords: too short refused (nothing changed), set, removed
			if _, err := a.SetPassword(ctx, "bob", "short"); err == nil {
				t.Fatal("short password accepted")
			}
			if _, err := get(a, basic("bob", "correct horse battery")); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("password before it was set: %v", err)
			}
			if _, err := a.SetPassword(ctx, "bob", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			if p, err := get(a, basic("bob", "correct horse battery")); err != nil || p.Name != "bob" {
				t.Fatalf("password after it was set: %+v %v", p, err)
			}
			if _, err := a.SetPassword(ctx, "bob", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := get(a, basic("bob", "correct horse battery")); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("password after it was removed: %v", err)
			}
			// deletion: the user and their tokens go, at once
			if _, err := a.SetRoles(ctx, "root", []auth.Role{auth.Admin}); err != nil {
				t.Fatal(err)
			}
			if u, err := a.DeleteUser(ctx, "bob"); err != nil || u.Name != "bob" {
				t.Fatalf("delete: %+v %v", u, err)
			}
			if _, err := get(a, "Bearer "+secret); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("token of a deleted user: %v", err)
			}
			if _, err := a.Tokens(ctx, "bob"); !errors.Is(err, repository.ErrNotFound) {
				t.Fatalf("tokens of a deleted user: %v", err)
			}
			for _, err := range []error{
				func() error { _, err := a.DeleteUser(ctx, "nobody"); return err }(),
				func() error { _, err := a.SetRoles(ctx, "nobody", []auth.Role{auth.Viewer}); return err }(),
				func() error { _, err := a.SetPassword(ctx, "nobody", "correct horse battery"); return err }(),
			} {
				if !errors.Is(err, repository.ErrNotFound) {
					t.Errorf("unknown user: %v", err)
				}
			}
		})
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
