// Query helpers: every query runs under the store's deadline, with the
// dialect's placeholders, and a failure of the database itself comes back as
// ErrUnavailable (the detail stays in the wrapped error, for the log).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrUnavailable reports that the database could not be reached or did not
// answer in time. Callers refuse the login and show Message(ErrUnavailable).
var ErrUnavailable = errors.New("state store unavailable, try again")

// errUnique is a primary-key or unique violation, mapped by the caller.
var errUnique = errors.New("unique violation")

// runner is what *sql.DB and *sql.Tx have in common.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// deadline bounds one store operation (all its queries) by the query timeout.
func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *Store) unavailable(err error) error {
	if s.d.isUnique(err) {
		return errUnique
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// exec runs a statement and returns the number of rows it changed.
func (s *Store) exec(ctx context.Context, r runner, q string, args ...any) (int64, error) {
	res, err := r.ExecContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return 0, s.unavailable(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.unavailable(err)
	}
	return n, nil
}

// scan runs a one-row query into dest; no row is sql.ErrNoRows.
func (s *Store) scan(ctx context.Context, r runner, q string, args []any, dest ...any) error {
	err := r.QueryRowContext(ctx, s.d.bind(q), args...).Scan(dest...)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.unavailable(err)
	}
	return err
}

// tx runs fn in one transaction, committed only when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.unavailable(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.unavailable(err)
	}
	return nil
}
