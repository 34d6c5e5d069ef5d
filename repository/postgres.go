package repository

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgDriver is the PostgreSQL backend: a pgx pool. pgx prepares and caches every
// statement per connection (QueryExecModeCacheStatement); telemetry uses COPY.
type pgDriver struct {
	pool *pgxpool.Pool
	gc   groupCommit
}

func openPostgres(ctx context.Context, dsn string, opts Options) (driver, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("repository: postgres DSN %q: %w: %w", RedactDSN(dsn), ErrInvalid, err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("repository: postgres connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("repository: postgres connect %s: %w", RedactDSN(dsn), err)
	}
	return &pgDriver{pool: pool}, nil
}

func (d *pgDriver) name() string { return "postgres" }

// groups: ledger-appending writes are group-committed (the ledger head row is locked
// once per group and the group costs one WAL flush).
func (d *pgDriver) groups() *groupCommit { return &d.gc }

type pgConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgExec(ctx context.Context, c pgConn, q string, args ...any) (int64, error) {
	tag, err := c.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func pgQuery(ctx context.Context, c pgConn, q string, args ...any) (rowsIter, error) {
	r, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (d *pgDriver) exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := pgExec(ctx, d.pool, q, args...)
	for attempt := 0; err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil && attempt < int(d.pool.Config().MaxConns); attempt++ {
		n, err = pgExec(ctx, d.pool, q, args...) // never sent: a dead pooled connection
	}
	return n, err
}
func (d *pgDriver) queryRow(ctx context.Context, q string, args ...any) scanner {
	return d.pool.QueryRow(ctx, q, args...)
}
func (d *pgDriver) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	return pgQuery(ctx, d.pool, q, args...)
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgExec(ctx, t.tx, q, args...)
}
func (t pgTx) queryRow(ctx context.Context, q string, args ...any) scanner {
	return t.tx.QueryRow(ctx, q, args...)
}
func (t pgTx) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	return pgQuery(ctx, t.tx, q, args...)
}

// execBatch sends qs in one round trip (pgx pipelines the batch).
func (t pgTx) execBatch(ctx context.Context, qs []queued) error {
	b := &pgx.Batch{}
	for _, q := range qs {
		b.Queue(q.q, q.args...)
	}
	br := t.tx.SendBatch(ctx, b)
	for range qs {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

func (t pgTx) commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgTx) rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

func (d *pgDriver) begin(ctx context.Context) (txn, error) {
	return d.beginTx(ctx, pgx.TxOptions{})
}

func (d *pgDriver) beginRead(ctx context.Context) (txn, error) {
	return d.beginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

// beginTx starts a transaction. A pooled connection that died with the server (a
// PostgreSQL restart: the pool pings only connections idle for a second or more) fails
// the BEGIN; a failed BEGIN leaves nothing behind, so it is retried on another
// connection (the pool destroys the dead one) instead of failing the caller's request
// (torture seed 175: the first API request after a restart answered 500).
func (d *pgDriver) beginTx(ctx context.Context, o pgx.TxOptions) (txn, error) {
	var err error
	for attempt := 0; attempt <= int(d.pool.Config().MaxConns); attempt++ {
		var tx pgx.Tx
		if tx, err = d.pool.BeginTx(ctx, o); err == nil {
			return pgTx{tx}, nil
		}
		if ctx.Err() != nil || !connectionLost(err) {
			return nil, err
		}
	}
	return nil, err
}

// connectionLost says whether err is the loss of a connection (not an error the server
// answered: those are *pgconn.PgError).
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}

func (d *pgDriver) lockLedgerHead(ctx context.Context, t txn) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := t.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash)
	return seq, hash, err
}

// migrationLockKey is the advisory lock key taken while migrating ("twinflow" in ASCII).
const migrationLockKey = 0x7477696e666c6f77

func (d *pgDriver) lockMigrations(ctx context.Context, t txn) error {
	_, err := t.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey))
	return err
}

// chunkSource feeds rows to CopyFrom, reusing one values slice (CopyFrom encodes each
// row before asking for the next).
type chunkSource struct {
	rows []chunkRow
	i    int
	vals [5]any
}

func (s *chunkSource) Next() bool { s.i++; return s.i <= len(s.rows) }
func (s *chunkSource) Values() ([]any, error) {
	r := &s.rows[s.i-1]
	s.vals[0], s.vals[1], s.vals[2], s.vals[3], s.vals[4] = r.series, r.tMin, r.tMax, r.n, r.data
	return s.vals[:], nil
}
func (s *chunkSource) Err() error { return nil }

func (d *pgDriver) copyChunks(ctx context.Context, rows []chunkRow) error {
	// A single COPY statement is atomic: all rows or none.
	n, err := d.pool.CopyFrom(ctx, pgx.Identifier{"telemetry_chunks"}, []string{"series_id", "t_min", "t_max", "n", "data"},
		&chunkSource{rows: rows})
	if err != nil {
		return err
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy stored %d of %d rows", n, len(rows))
	}
	return nil
}

func (d *pgDriver) isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (d *pgDriver) isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// isRetryable: deadlock_detected, serialization_failure.
func (d *pgDriver) isRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (d *pgDriver) close() error { d.pool.Close(); return nil }
