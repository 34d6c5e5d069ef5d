package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/repository/pgtest"
)

// ledgerTestPG creates a fresh PostgreSQL database for one test and drops it afterwards.
func ledgerTestPG(t *testing.T) string { t.Helper(); return pgtest.DSN(t) }

// fillLedger writes changes with transitions and device records through the repository.
func fillLedger(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 3 {
		id := fmt.Sprintf("chg-%d", i)
		if _, err := st.Changes().Create(ctx, repository.Change{ID: id, TwinID: "live"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Changes().Transition(ctx, id, repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware, Subject: fmt.Sprintf("r%d", i),
			Payload: json.RawMessage(`{"version":"1.2"}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

func runTwinflow(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestLedgerVerifyCatchesPostgresEdit(t *testing.T) {
	dsn := ledgerTestPG(t)
	fillLedger(t, dsn)
	out, err := runTwinflow("ledger", "verify", "--db", dsn)
	if err != nil {
		t.Fatalf("verify of an intact ledger failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "OK") || !strings.Contains(out, "9") {
		t.Fatalf("verify output: %s", out)
	}

	// Edit record 5 directly in PostgreSQL, bypassing the append-only trigger as a
	// superuser could.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, `UPDATE ledger SET subject = 'someone-else' WHERE seq = 5`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v %v", tag, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	out, err = runTwinflow("ledger", "verify", "--db", dsn, "-o", "json")
	if err == nil {
		t.Fatalf("verify of an edited ledger succeeded:\n%s", out)
	}
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit code %d; want 1", code)
	}
	if !strings.Contains(err.Error(), "record 5") || !strings.Contains(err.Error(), "edited") {
		t.Fatalf("error %q does not name record 5 as edited", err)
	}
	var res repository.VerifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if res.OK || res.FirstBad == nil || *res.FirstBad != 5 || res.Records != 9 {
		t.Fatalf("result %+v", res)
	}
}

func TestLedgerVerifySQLiteDeleteAndSwap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
		bad   string
	}{
		{"delete", []string{"DROP TRIGGER ledger_no_delete", "DELETE FROM ledger WHERE seq = 4"}, "record 4"},
		{"swap", []string{"DROP TRIGGER ledger_no_update", "UPDATE ledger SET seq = -1 WHERE seq = 3",
			"UPDATE ledger SET seq = 3 WHERE seq = 6", "UPDATE ledger SET seq = 6 WHERE seq = -1"}, "record 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tf.db")
			dsn := "file:" + path
			fillLedger(t, dsn)
			if out, err := runTwinflow("ledger", "verify", "--db", dsn); err != nil {
				t.Fatalf("intact: %v\n%s", err, out)
			}
			// Tamper through a separate repository connection's raw SQL: open the file
			// with the same driver the repository uses.
			tamperSQLite(t, path, tc.stmts...)
			out, err := runTwinflow("ledger", "verify", "--db", dsn)
			if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), tc.bad) || !strings.Contains(out, "TAMPERED") {
				t.Fatalf("verify after %s: err %v, out %s", tc.name, err, out)
			}
		})
	}
}

func TestLedgerCLIBadInput(t *testing.T) {
	_, err := runTwinflow("ledger", "verify", "--db", "mysql://x")
	if exitCode(err) != 2 || !strings.Contains(err.Error(), `"mysql"`) {
		t.Fatalf("bad scheme: %v", err)
	}
	_, err = runTwinflow("ledger", "verify", "--db", "file:"+filepath.Join(t.TempDir(), "missing.db"))
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "missing.db") {
		t.Fatalf("missing file: %v", err)
	}
	_, err = runTwinflow("ledger", "list", "--db", "file:x.db", "--limit", "-3")
	if exitCode(err) != 2 {
		t.Fatalf("negative limit: %v", err)
	}
}

func TestLedgerList(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "tf.db")
	fillLedger(t, dsn)
	out, err := runTwinflow("ledger", "list", "--db", dsn, "--from", "2", "--limit", "3", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []repository.LedgerRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Seq != 2 || recs[0].Kind != repository.KindChangeTransition {
		t.Fatalf("list: %+v", recs)
	}
}

func tamperSQLite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestLedgerAnchorCatchesRewrittenChain: a forger who rewrites a record and re-hashes
// every later record and the head passes plain verification, but not --anchor.
func TestLedgerAnchorCatchesRewrittenChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tf.db")
	dsn := "file:" + path
	fillLedger(t, dsn)
	out, err := runTwinflow("ledger", "head", "--db", dsn, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		Seq    int64
		Anchor string
	}
	if err := json.Unmarshal([]byte(out), &head); err != nil || head.Seq != 9 || !strings.HasPrefix(head.Anchor, "9:") {
		t.Fatalf("head: %q %v", out, err)
	}
	if out, err := runTwinflow("ledger", "verify", "--db", dsn, "--anchor", head.Anchor); err != nil {
		t.Fatalf("anchored verify of an intact ledger: %v\n%s", err, out)
	}

	// Forge: change record 5 and re-chain 5..9 and the head consistently.
	ctx := context.Background()
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Ledger().List(ctx, 1, 0)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"DROP TRIGGER ledger_no_update"}
	prev := recs[3].Hash
	for i := 4; i < len(recs); i++ {
		r := recs[i]
		if i == 4 {
			r.Subject = "forged"
		}
		r.PrevHash = prev
		r.Hash = repository.LedgerHash(r.Seq, r.Time, r.Kind, r.Subject, r.Payload, r.PrevHash)
		prev = r.Hash
		stmts = append(stmts, fmt.Sprintf("UPDATE ledger SET subject = '%s', prev_hash = x'%x', hash = x'%x' WHERE seq = %d",
			r.Subject, r.PrevHash, r.Hash, r.Seq))
	}
	stmts = append(stmts, fmt.Sprintf("UPDATE ledger_head SET hash = x'%x'", prev))
	tamperSQLite(t, path, stmts...)

	if out, err := runTwinflow("ledger", "verify", "--db", dsn); err != nil {
		t.Fatalf("the forged chain is self-consistent, plain verify should pass: %v\n%s", err, out)
	}
	_, err = runTwinflow("ledger", "verify", "--db", dsn, "--anchor", head.Anchor)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "record 9") || !strings.Contains(err.Error(), "anchor") {
		t.Fatalf("anchored verify of a forged chain: %v", err)
	}
	// An anchor past the end (truncated ledger) also fails.
	_, err = runTwinflow("ledger", "verify", "--db", dsn, "--anchor", "12:"+strings.Repeat("ab", 32))
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("anchor past the end: %v", err)
	}
	for _, bad := range []string{"9", "x:ab", "0:" + strings.Repeat("ab", 32), "9:abc", "9:" + strings.Repeat("zz", 32)} {
		_, err := runTwinflow("ledger", "verify", "--db", dsn, "--anchor", bad)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "--anchor") {
			t.Errorf("--anchor %q: %v; want a usage error", bad, err)
		}
	}
}
