package repository_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twinflow/twinflow/repository"
)

// backend opens fresh, empty stores of one kind. dsn returns a new database's DSN
// (dropped at test cleanup); the caller opens it as often as it likes.
type backend struct {
	name string
	dsn  func(t testing.TB) string
}

func backends() []backend {
	return []backend{{"sqlite", sqliteDSN}, {"postgres", pgDSN}}
}

func sqliteDSN(t testing.TB) string {
	return "file:" + filepath.Join(t.TempDir(), "twinflow.db")
}

// requireIntegration skips (or fails, with TWINFLOW_REQUIRE_INTEGRATION=1) a test whose
// prerequisite is missing.
func requireIntegration(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("integration prerequisite missing: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// pgDSN creates a fresh PostgreSQL database from TWINFLOW_TEST_PG and drops it at
// cleanup.
func pgDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TWINFLOW_TEST_PG")
	if admin == "" {
		requireIntegration(t, "TWINFLOW_TEST_PG is not set (run eval \"$(.ci/setup)\")")
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("TWINFLOW_TEST_PG must be a postgres:// URL, got %q", admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		requireIntegration(t, "PostgreSQL at TWINFLOW_TEST_PG unreachable: "+err.Error())
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

func openT(t testing.TB, dsn string) repository.Store {
	t.Helper()
	st, err := repository.Open(context.Background(), dsn, repository.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// tamper runs statements that bypass the ledger's append-only triggers.
func tamper(t testing.TB, st repository.Store, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	var all []string
	switch st.Backend() {
	case "postgres":
		all = append([]string{"SET LOCAL session_replication_role = replica"}, stmts...)
	case "sqlite":
		all = append([]string{"DROP TRIGGER IF EXISTS ledger_no_update", "DROP TRIGGER IF EXISTS ledger_no_delete"}, stmts...)
	}
	if err := repository.RawTx(ctx, st, all...); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}
