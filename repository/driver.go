package repository

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// The two backends share every query (both accept $N placeholders, ON CONFLICT and
// RETURNING); a driver supplies what differs: connections, transactions, error
// classification, the ledger lock and bulk telemetry writes.

type scanner interface{ Scan(dest ...any) error }

type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// conn runs queries, inside or outside a transaction.
type conn interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rowsIter, error)
}

type txn interface {
	conn
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// chunkRow is one telemetry_chunks row.
type chunkRow struct {
	series     int32
	tMin, tMax int64
	n          int32
	data       []byte
}

type driver interface {
	conn
	name() string
	// begin starts a read-write transaction. On sqlite it takes the write lock at once.
	begin(ctx context.Context) (txn, error)
	// beginRead starts a read-only transaction that sees one consistent snapshot.
	beginRead(ctx context.Context) (txn, error)
	// lockLedgerHead reads the ledger head row, locked until the transaction ends.
	lockLedgerHead(ctx context.Context, t txn) (seq int64, hash []byte, err error)
	// copyChunks stores rows atomically (COPY on PostgreSQL).
	copyChunks(ctx context.Context, rows []chunkRow) error
	// lockMigrations serializes concurrent migrators inside t.
	lockMigrations(ctx context.Context, t txn) error
	isUniqueViolation(err error) bool
	isNoRows(err error) bool
	close() error
}

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations of a backend, by version.
func migrations(backend string) ([]migration, error) {
	dir := "migrations/" + backend
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("repository: migrations for %s: %w", backend, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("repository: migration file %s: name must start with a positive version and '_'", name)
		}
		b, err := migrationFS.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("repository: migrations for %s: expected version %d, found %s", backend, i+1, m.name)
		}
	}
	return out, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations("postgres")
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies pending migrations, each in its own transaction together with its
// schema_migrations row, and refuses a database whose version is newer than ours.
func migrate(ctx context.Context, d driver, nowMicro func() int64) (int, error) {
	ms, err := migrations(d.name())
	if err != nil {
		return 0, err
	}
	latest := len(ms)
	if _, err := d.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version bigint PRIMARY KEY, name text NOT NULL, applied bigint NOT NULL)`); err != nil {
		return 0, fmt.Errorf("repository: create schema_migrations: %w", err)
	}
	current := 0
	for {
		t, err := d.begin(ctx)
		if err != nil {
			return 0, fmt.Errorf("repository: migrate: %w", err)
		}
		if err := d.lockMigrations(ctx, t); err != nil {
			_ = t.rollback(ctx)
			return 0, fmt.Errorf("repository: migrate: lock: %w", err)
		}
		var v int64
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			_ = t.rollback(ctx)
			return 0, fmt.Errorf("repository: read schema version: %w", err)
		}
		current = int(v)
		if current > latest {
			_ = t.rollback(ctx)
			return current, fmt.Errorf("repository: database schema version %d, this binary knows up to %d (upgrade twinflow): %w",
				current, latest, ErrSchemaTooNew)
		}
		if current == latest {
			_ = t.rollback(ctx)
			return current, nil
		}
		m := ms[current]
		if _, err := t.exec(ctx, m.sql); err != nil {
			_ = t.rollback(ctx)
			return current, fmt.Errorf("repository: migration %s: %w", m.name, err)
		}
		if _, err := t.exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`,
			int64(m.version), m.name, nowMicro()); err != nil {
			_ = t.rollback(ctx)
			return current, fmt.Errorf("repository: record migration %s: %w", m.name, err)
		}
		if err := t.commit(ctx); err != nil {
			return current, fmt.Errorf("repository: commit migration %s: %w", m.name, err)
		}
	}
}
