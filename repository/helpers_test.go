package repository_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/repository/pgtest"
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
func requireIntegration(t testing.TB, why string) { t.Helper(); pgtest.RequireIntegration(t, why) }

// pgDSN creates a fresh PostgreSQL database (dropped at cleanup).
func pgDSN(t testing.TB) string { t.Helper(); return pgtest.DSN(t) }

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
