// Package pgtest gives tests a PostgreSQL database of their own: a scratch database
// created on the server named by TWINFLOW_TEST_PG (set by `eval "$(.ci/setup)"`) and
// dropped when the test ends. Tests never use the TWINFLOW_TEST_PG database itself:
// its schema is whatever the last binary to open it migrated it to, so a test of one
// checkout could be refused by a newer schema another checkout left there.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireIntegration skips a test whose prerequisite is missing, or fails it when
// TWINFLOW_REQUIRE_INTEGRATION=1 (as `make test` sets).
func RequireIntegration(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("integration prerequisite missing: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// DSN creates a fresh database on TWINFLOW_TEST_PG's server and returns its DSN; the
// database is dropped (its connections closed) at the test's cleanup.
func DSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TWINFLOW_TEST_PG")
	if admin == "" {
		RequireIntegration(t, "TWINFLOW_TEST_PG is not set (run eval \"$(.ci/setup)\")")
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("TWINFLOW_TEST_PG must be a postgres:// URL, got %q", admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		RequireIntegration(t, "PostgreSQL at TWINFLOW_TEST_PG unreachable: "+err.Error())
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "twinflow_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
