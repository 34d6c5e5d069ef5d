package repository

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDriver is the embedded single-file backend (pure Go). Writes go through one
// connection (sqlite has a single writer; BEGIN IMMEDIATE takes the write lock at the
// start of every read-write transaction, which also serializes ledger appends); reads
// use a separate pool of read-only connections (WAL lets them run beside the writer).
type sqliteDriver struct {
	w  *sql.DB // single writer
	r  *sql.DB // readers
	gc groupCommit

	stmtMu sync.Mutex // guards stmts, wanted and closed
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	closed bool
}

// maxCachedStmts bounds the writer's prepared-statement cache.
const maxCachedStmts = 64

// Compiling a statement costs more than running the small ones the repository writes,
// so the writer keeps its parameterized statements prepared: a statement with
// arguments run in a write transaction is noted (and runs unprepared that once); the
// next begin prepares the noted statements on the writer connection, and later
// transactions use the prepared handles. Preparing needs the single writer
// connection, so it happens only in begin, never inside a transaction.

// stmt returns the prepared statement for q, or nil (noting q for preparation).
func (d *sqliteDriver) stmt(q string) *sql.Stmt {
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	if st, ok := d.stmts[q]; ok {
		return st
	}
	if len(d.stmts)+len(d.wanted) < maxCachedStmts {
		if d.wanted == nil {
			d.wanted = map[string]bool{}
		}
		d.wanted[q] = true
	}
	return nil
}

// prepareWanted prepares the noted statements. The caller holds no connection.
func (d *sqliteDriver) prepareWanted(ctx context.Context) {
	d.stmtMu.Lock()
	if len(d.wanted) == 0 {
		d.stmtMu.Unlock()
		return
	}
	qs := make([]string, 0, len(d.wanted))
	for q := range d.wanted {
		qs = append(qs, q)
	}
	clear(d.wanted)
	d.stmtMu.Unlock()
	for _, q := range qs {
		st, err := d.w.PrepareContext(ctx, q)
		if err != nil {
			continue // stays unprepared; running it reports the error
		}
		d.stmtMu.Lock()
		if _, dup := d.stmts[q]; dup || d.closed {
			_ = st.Close()
		} else {
			if d.stmts == nil {
				d.stmts = map[string]*sql.Stmt{}
			}
			d.stmts[q] = st
		}
		d.stmtMu.Unlock()
	}
}

func openSQLite(ctx context.Context, path string, opts Options) (driver, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq := url.Values{"_txlock": {"immediate"}}
	for k, v := range q {
		wq[k] = v
	}
	w, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("repository: sqlite open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("repository: sqlite open %s: %w", path, err)
	}
	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", base+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("repository: sqlite open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return &sqliteDriver{w: w, r: r}, nil
}

func (d *sqliteDriver) name() string { return "sqlite" }

// groups: ledger-appending writes are group-committed (one fsync per group).
func (d *sqliteDriver) groups() *groupCommit { return &d.gc }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func sqlExec(ctx context.Context, c sqlConn, q string, args ...any) (int64, error) {
	res, err := c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func sqlQuery(ctx context.Context, c sqlConn, q string, args ...any) (rowsIter, error) {
	r, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (d *sqliteDriver) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlExec(ctx, d.w, q, args...)
}

// queryRow and query read through the writer when the statement writes (RETURNING).
func (d *sqliteDriver) queryRow(ctx context.Context, q string, args ...any) scanner {
	if isWrite(q) {
		return d.w.QueryRowContext(ctx, q, args...)
	}
	return d.r.QueryRowContext(ctx, q, args...)
}
func (d *sqliteDriver) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	if isWrite(q) {
		return sqlQuery(ctx, d.w, q, args...)
	}
	return sqlQuery(ctx, d.r, q, args...)
}

func isWrite(q string) bool {
	q = strings.TrimSpace(q)
	return !strings.HasPrefix(strings.ToUpper(q[:min(6, len(q))]), "SELECT")
}

type sqlTx struct {
	tx *sql.Tx
	d  *sqliteDriver // set on writer transactions: prepared statements
}

// prepared returns the transaction's handle of the cached statement for q (closed
// with the transaction), or nil.
func (t sqlTx) prepared(ctx context.Context, q string, args []any) *sql.Stmt {
	if t.d == nil || len(args) == 0 {
		return nil
	}
	st := t.d.stmt(q)
	if st == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

func (t sqlTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if st := t.prepared(ctx, q, args); st != nil {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	return sqlExec(ctx, t.tx, q, args...)
}
func (t sqlTx) queryRow(ctx context.Context, q string, args ...any) scanner {
	if st := t.prepared(ctx, q, args); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}
func (t sqlTx) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	return sqlQuery(ctx, t.tx, q, args...)
}
func (t sqlTx) commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) rollback(context.Context) error { return t.tx.Rollback() }

func (d *sqliteDriver) begin(ctx context.Context) (txn, error) {
	d.prepareWanted(ctx)
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqlTx{tx: tx, d: d}, nil
}

func (d *sqliteDriver) beginRead(ctx context.Context) (txn, error) {
	tx, err := d.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return sqlTx{tx: tx}, nil
}

// lockLedgerHead: the IMMEDIATE transaction already holds the database write lock.
func (d *sqliteDriver) lockLedgerHead(ctx context.Context, t txn) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := t.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, err
}

func (d *sqliteDriver) lockMigrations(context.Context, txn) error { return nil }

// copyChunks inserts rows in one transaction with one prepared statement.
func (d *sqliteDriver) copyChunks(ctx context.Context, rows []chunkRow) (err error) {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO telemetry_chunks (series_id, t_min, t_max, n, data) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err = stmt.ExecContext(ctx, int64(r.series), r.tMin, r.tMax, int64(r.n), r.data); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (d *sqliteDriver) isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func (d *sqliteDriver) isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (d *sqliteDriver) close() error {
	d.stmtMu.Lock()
	var errs []error
	for _, st := range d.stmts {
		errs = append(errs, st.Close())
	}
	d.stmts, d.closed = nil, true
	d.stmtMu.Unlock()
	return errors.Join(append(errs, d.r.Close(), d.w.Close())...)
}
