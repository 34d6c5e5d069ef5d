package repository

import "context"

// RawExec runs a statement directly on the store's database (tests tamper with rows).
func RawExec(ctx context.Context, s Store, q string, args ...any) (int64, error) {
	return s.(*store).d.exec(ctx, q, args...)
}

// RawTx runs statements in one transaction directly on the store's database.
func RawTx(ctx context.Context, s Store, stmts ...string) error {
	st := s.(*store)
	return st.withTx(ctx, func(t txn) error {
		for _, q := range stmts {
			if _, err := t.exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}
