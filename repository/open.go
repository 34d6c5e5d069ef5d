package repository

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultDSN is the embedded single-file database used when no --db is given.
const DefaultDSN = "file:twinflow.db"

// DSN is a parsed data source name.
type DSN struct {
	// Backend is "postgres" or "sqlite".
	Backend string
	// Path is the sqlite database file (sqlite only).
	Path string
	// Raw is the original string (passed to pgx for PostgreSQL).
	Raw string
}

// ParseDSN chooses the backend by scheme: postgres:// and postgresql:// select
// PostgreSQL (the DSN is handed to pgx as is); file:PATH selects the embedded sqlite
// file PATH (file:twinflow.db, file:/var/lib/twinflow.db, file:///var/lib/twinflow.db).
// Anything else is rejected with ErrUnsupportedDSN.
func ParseDSN(dsn string) (DSN, error) {
	if strings.TrimSpace(dsn) == "" {
		return DSN{}, fmt.Errorf("repository: empty DSN (want postgres://... or file:PATH): %w", ErrUnsupportedDSN)
	}
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return DSN{}, fmt.Errorf("repository: DSN %q has no scheme (want postgres://... or file:PATH): %w", RedactDSN(dsn), ErrUnsupportedDSN)
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return DSN{}, fmt.Errorf("repository: DSN %q: PostgreSQL DSNs start with %s://: %w", RedactDSN(dsn), scheme, ErrUnsupportedDSN)
		}
		if _, err := url.Parse(dsn); err != nil {
			return DSN{}, fmt.Errorf("repository: DSN %q: %v: %w", RedactDSN(dsn), trimURLErr(err), ErrInvalid)
		}
		return DSN{Backend: "postgres", Raw: dsn}, nil
	case "file":
		path := rest
		if strings.HasPrefix(path, "//") {
			// file:///abs/path or file://localhost/abs/path
			u, err := url.Parse(dsn)
			if err != nil {
				return DSN{}, fmt.Errorf("repository: DSN %q: %v: %w", dsn, trimURLErr(err), ErrInvalid)
			}
			if u.Host != "" && u.Host != "localhost" {
				return DSN{}, fmt.Errorf("repository: DSN %q: file DSNs cannot name a host (%q): %w", dsn, u.Host, ErrInvalid)
			}
			if u.RawQuery != "" {
				return DSN{}, fmt.Errorf("repository: DSN %q: file DSNs take no query parameters: %w", dsn, ErrInvalid)
			}
			path = u.Path
		} else if strings.ContainsAny(path, "?#") {
			return DSN{}, fmt.Errorf("repository: DSN %q: file DSNs take no query parameters or fragments: %w", dsn, ErrInvalid)
		}
		if path == "" {
			return DSN{}, fmt.Errorf("repository: DSN %q: empty file path: %w", dsn, ErrInvalid)
		}
		if strings.ContainsRune(path, 0) {
			return DSN{}, fmt.Errorf("repository: DSN %q: file path contains a NUL byte: %w", dsn, ErrInvalid)
		}
		return DSN{Backend: "sqlite", Path: path, Raw: dsn}, nil
	default:
		return DSN{}, fmt.Errorf("repository: DSN scheme %q is not supported (want postgres://, postgresql:// or file:): %w",
			scheme, ErrUnsupportedDSN)
	}
}

func trimURLErr(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// RedactDSN hides a password in a URL-shaped DSN, even one that does not parse.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		return u.String()
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return dsn
	}
	user := rest[:at]
	if name, _, hasPw := strings.Cut(user, ":"); hasPw {
		user = name + ":xxxxx"
	}
	return scheme + "://" + user + rest[at:]
}

// Open connects to the repository named by dsn (see ParseDSN), applies pending
// migrations and returns the Store. It fails with ErrSchemaTooNew if the database was
// migrated by a newer binary.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	p, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var d driver
	switch p.Backend {
	case "postgres":
		d, err = openPostgres(ctx, p.Raw, opts)
	case "sqlite":
		d, err = openSQLite(ctx, p.Path, opts)
	}
	if err != nil {
		return nil, err
	}
	d = &guard{driver: d}
	s := &store{d: d, now: opts.Now, log: opts.Logger.With("component", "repository", "backend", d.name()),
		series: map[Series]int32{}}
	v, err := migrate(ctx, d, s.nowMicro)
	if err != nil {
		_ = d.close()
		return nil, err
	}
	s.version = v
	s.log.Debug("repository open", "schema_version", v)
	return s, nil
}

// store implements Store over a driver; every sub-interface is a view of it.
type store struct {
	d       driver
	now     func() time.Time
	log     *slog.Logger
	version int

	seriesMu sync.Mutex
	series   map[Series]int32 // guarded by seriesMu: known series IDs

	closeOnce sync.Once
	closeErr  error
}

func (s *store) nowMicro() int64 { return s.now().UnixMicro() }

func (s *store) Changes() Changes               { return changesRepo{s} }
func (s *store) Ledger() Ledger                 { return ledgerRepo{s} }
func (s *store) Telemetry() Telemetry           { return telemetryRepo{s} }
func (s *store) Snapshots() Snapshots           { return snapshotsRepo{s} }
func (s *store) Intents() Intents               { return intentsRepo{s} }
func (s *store) Datasets() Datasets             { return datasetsRepo{s} }
func (s *store) Certifications() Certifications { return certsRepo{s} }
func (s *store) Policies() Policies             { return policiesRepo{s} }
func (s *store) Users() Users                   { return usersRepo{s} }
func (s *store) Tokens() Tokens                 { return tokensRepo{s} }
func (s *store) Backend() string                { return s.d.name() }
func (s *store) SchemaVersion() int             { return s.version }

func (s *store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.d.close() })
	return s.closeErr
}

// withTx runs fn in a read-write transaction, committing if it returns nil.
func (s *store) withTx(ctx context.Context, fn func(t txn) error) error {
	t, err := s.d.begin(ctx)
	if err != nil {
		return fmt.Errorf("repository: begin: %w", err)
	}
	if err := fn(t); err != nil {
		_ = t.rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := t.commit(ctx); err != nil {
		return fmt.Errorf("repository: commit: %w", err)
	}
	return nil
}

func micro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func toMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
