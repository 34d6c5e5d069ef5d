package repository

import (
	"context"
	"fmt"
	"sync/atomic"
)

// guard wraps a driver so that every call after Close fails with ErrClosed instead of
// a backend-specific error.
type guard struct {
	driver
	closed atomic.Bool
}

type errScanner struct{ err error }

func (e errScanner) Scan(...any) error { return e.err }

func errClosed() error { return fmt.Errorf("repository: %w", ErrClosed) }

func (g *guard) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if g.closed.Load() {
		return 0, errClosed()
	}
	return g.driver.exec(ctx, q, args...)
}

func (g *guard) queryRow(ctx context.Context, q string, args ...any) scanner {
	if g.closed.Load() {
		return errScanner{errClosed()}
	}
	return g.driver.queryRow(ctx, q, args...)
}

func (g *guard) query(ctx context.Context, q string, args ...any) (rowsIter, error) {
	if g.closed.Load() {
		return nil, errClosed()
	}
	return g.driver.query(ctx, q, args...)
}

func (g *guard) begin(ctx context.Context) (txn, error) {
	if g.closed.Load() {
		return nil, errClosed()
	}
	return g.driver.begin(ctx)
}

func (g *guard) beginRead(ctx context.Context) (txn, error) {
	if g.closed.Load() {
		return nil, errClosed()
	}
	return g.driver.beginRead(ctx)
}

func (g *guard) copyChunks(ctx context.Context, rows []chunkRow) error {
	if g.closed.Load() {
		return errClosed()
	}
	return g.driver.copyChunks(ctx, rows)
}

func (g *guard) close() error {
	g.closed.Store(true)
	return g.driver.close()
}
