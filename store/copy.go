// Copying a whole state from one store to another (SQLite to PostgreSQL):
// rows move as stored, so secrets stay sealed with the same state key.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrTargetNotEmpty refuses to copy over users already in the target.
var ErrTargetNotEmpty = errors.New("the target already has users (copy again with --force to replace them)")

// userColsRaw is every column of users, copied as stored.
const userColsRaw = `name, password_hash, groups_csv, keys, otp_kind, otp_secret, otp_digits, otp_period,
	otp_window, hotp_counter, totp_last_step, failures, locked_until, created_at, enroll_until,
	enroll_token, last_login, last_source`

const recoveryColsRaw = `"user", hash, used_at`

// Copy copies every user (secrets, recovery codes, counters, locks, last
// login) from src into dst in one transaction of dst. Both must be opened
// with the same state key. A dst with users is refused unless force, which
// replaces them. It returns the number of users and recovery codes copied.
func Copy(ctx context.Context, src, dst *Store, force bool) (users, codes int, err error) {
	if src.key.check != dst.key.check {
		return 0, 0, ErrBadKey
	}
	userRows, err := src.rawRows(ctx, `SELECT `+userColsRaw+` FROM users ORDER BY name`)
	if err != nil {
		return 0, 0, fmt.Errorf("read source users: %w", err)
	}
	codeRows, err := src.rawRows(ctx, `SELECT `+recoveryColsRaw+` FROM recovery`)
	if err != nil {
		return 0, 0, fmt.Errorf("read source recovery codes: %w", err)
	}
	err = dst.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := dst.scan(ctx, tx, `SELECT count(*) FROM users`, nil, &n); err != nil {
			return err
		}
		if n > 0 && !force {
			return ErrTargetNotEmpty
		}
		for _, q := range []string{`DELETE FROM recovery`, `DELETE FROM users`} {
			if _, err := dst.exec(ctx, tx, q); err != nil {
				return err
			}
		}
		if err := dst.insertRaw(ctx, tx, "users", userColsRaw, userRows); err != nil {
			return err
		}
		if err := copySerial(ctx, src, dst, tx); err != nil {
			return err
		}
		return dst.insertRaw(ctx, tx, "recovery", recoveryColsRaw, codeRows)
	})
	if err != nil {
		return 0, 0, err
	}
	return len(userRows), len(codeRows), nil
}

// rawRows reads every row of q as the driver returns it.
func (s *Store) rawRows(ctx context.Context, q string) ([][]any, error) {
	rows, err := s.db.QueryContext(ctx, s.d.bind(q))
	if err != nil {
		return nil, s.unavailable(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, s.unavailable(err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, s.unavailable(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(err)
	}
	return out, nil
}

func (s *Store) insertRaw(ctx context.Context, tx *sql.Tx, table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ")
	q := `INSERT INTO ` + table + `(` + cols + `) VALUES(` + marks + `)`
	for _, r := range rows {
		if _, err := s.exec(ctx, tx, q, r...); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	return nil
}
