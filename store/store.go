// SQLite-backed state: schema, users, OTP state and the atomic consume operations.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bastion/oath"

	_ "modernc.org/sqlite"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound         = errors.New("no such user")
	ErrExists           = errors.New("user exists")
	ErrAlreadyEnrolled  = errors.New("user already has a second factor")
	ErrNotEnrolled      = errors.New("user has no second factor")
	ErrRecoveryRejected = errors.New("recovery code not valid")
	ErrTokenRejected    = errors.New("enrollment token not valid")
)

// User is one account. OTP is nil while the user is pending enrollment.
type User struct {
	Name         string
	PasswordHash string
	Groups       []string
	Keys         []string // authorized_keys lines
	OTP          *OTP
	Failures     int
	LockedUntil  time.Time // zero: not locked by time
	LockedByHand bool      // locked until an admin unlocks
	CreatedAt    time.Time
	EnrollUntil  time.Time // pending users may self-enroll until then
	HasToken     bool      // an enrollment token is outstanding
	LastLogin    time.Time
	LastSource   string
	RecoveryLeft int

	sealed []byte // the OTP secret as stored: identifies the enrollment a check ran against
}

// OTP is a user's token and its replay state.
type OTP struct {
	Params   oath.Params
	Counter  uint64 // HOTP: next counter to accept
	LastStep int64  // TOTP: last step that succeeded; never accepted again
}

// Locked reports whether the user is locked at now.
func (u *User) Locked(now time.Time) bool {
	return u.LockedByHand || now.Before(u.LockedUntil)
}

// Store is the state file.
type Store struct {
	db  *sql.DB
	key *stateKey
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
	name TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	groups_csv TEXT NOT NULL DEFAULT '',
	keys TEXT NOT NULL DEFAULT '',
	otp_kind TEXT NOT NULL DEFAULT '',
	otp_secret BLOB,
	otp_digits INTEGER NOT NULL DEFAULT 6,
	otp_period INTEGER NOT NULL DEFAULT 30,
	otp_window INTEGER NOT NULL DEFAULT 1,
	hotp_counter INTEGER NOT NULL DEFAULT 0,
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	enroll_until INTEGER NOT NULL DEFAULT 0,
	enroll_token TEXT NOT NULL DEFAULT '',
	last_login INTEGER NOT NULL DEFAULT 0,
	last_source TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS recovery (
	user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
	hash TEXT NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user, hash)
);`

// lockedByHand is the locked_until value meaning "until an admin unlocks".
const lockedByHand = -1

// Open opens (creating if needed) the state file and its key. The key is
// created only together with a new state file: a missing or wrong key for an
// existing state file is an error, so the server never runs without its
// secrets and never falls back to "no 2FA".
func Open(path, keyPath string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	_, statErr := os.Stat(path)
	fresh := os.IsNotExist(statErr)
	if !fresh {
		if err := checkPrivate(path); err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
	}
	key, err := loadOrCreateKey(keyPath, fresh)
	if err != nil {
		return nil, err
	}
	if fresh {
		// Create the file private before SQLite opens it: SQLite gives the
		// -wal and -shm files the mode of the database file, and they hold
		// the same password hashes.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create state %s: %w", path, err)
		}
		f.Close()
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; transactions serialize in-process
	s := &Store{db: db, key: key}
	if err := s.init(fresh); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init(fresh bool) error {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	var check string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k='key_check'`).Scan(&check)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE otp_secret IS NOT NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrBadKey
		}
		_, err = s.db.ExecContext(ctx, `INSERT INTO meta(k, v) VALUES('key_check', ?)`, s.key.check)
		return err
	case err != nil:
		return err
	case check != s.key.check:
		return ErrBadKey
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const userCols = `name, password_hash, groups_csv, keys, otp_kind, otp_secret, otp_digits, otp_period,
	otp_window, hotp_counter, totp_last_step, failures, locked_until, created_at, enroll_until,
	enroll_token != '', last_login, last_source,
	(SELECT count(*) FROM recovery r WHERE r.user = users.name AND r.used_at = 0)`

func (s *Store) scanUser(row *sql.Row) (*User, error) {
	var (
		u                               User
		groups, keys, kind              string
		secret                          []byte
		digits, period, window          int
		counter, lastStep, locked       int64
		created, enrollUntil, lastLogin int64
	)
	err := row.Scan(&u.Name, &u.PasswordHash, &groups, &keys, &kind, &secret, &digits, &period,
		&window, &counter, &lastStep, &u.Failures, &locked, &created, &enrollUntil,
		&u.HasToken, &lastLogin, &u.LastSource, &u.RecoveryLeft)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u.sealed = secret
	u.Groups = splitNonEmpty(groups, ",")
	u.Keys = splitNonEmpty(keys, "\n")
	if locked == lockedByHand {
		u.LockedByHand = true
	} else if locked > 0 {
		u.LockedUntil = time.Unix(locked, 0)
	}
	u.CreatedAt = time.Unix(created, 0)
	u.EnrollUntil = time.Unix(enrollUntil, 0)
	if lastLogin > 0 {
		u.LastLogin = time.Unix(lastLogin, 0)
	}
	if kind != "" {
		plain, err := s.key.open(u.Name, secret)
		if err != nil {
			return nil, fmt.Errorf("user %s: decrypt otp secret: %w", u.Name, err)
		}
		u.OTP = &OTP{
			Params:   oath.Params{Kind: oath.Kind(kind), Secret: plain, Digits: digits, Period: period, Window: window},
			Counter:  uint64(counter),
			LastStep: lastStep,
		}
	}
	return &u, nil
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// User returns one user.
func (s *Store) User(ctx context.Context, name string) (*User, error) {
	return s.scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// Users returns all users ordered by name.
func (s *Store) Users(ctx context.Context) ([]*User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*User, 0, len(names))
	for _, n := range names {
		u, err := s.User(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// NewUser describes a user to add.
type NewUser struct {
	Name         string
	PasswordHash string
	Groups       []string
	Keys         []string
	EnrollUntil  time.Time
	EnrollToken  string // optional one-time enrollment token (stored hashed)
}

// AddUser creates a pending user.
func (s *Store) AddUser(ctx context.Context, n NewUser, now time.Time) error {
	tok := ""
	if n.EnrollToken != "" {
		tok = s.key.mac("enroll-token", n.Name, n.EnrollToken)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users(name, password_hash, groups_csv, keys, created_at, enroll_until, enroll_token)
		VALUES(?, ?, ?, ?, ?, ?, ?)`, n.Name, n.PasswordHash, strings.Join(n.Groups, ","), strings.Join(n.Keys, "\n"),
		now.Unix(), n.EnrollUntil.Unix(), tok)
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return ErrExists
	}
	return err
}

func (s *Store) execOne(ctx context.Context, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, name, hash string) error {
	return s.execOne(ctx, `UPDATE users SET password_hash = ? WHERE name = ?`, hash, name)
}

// DeleteUser removes a user and their recovery codes.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.execOne(ctx, `DELETE FROM users WHERE name = ?`, name)
}

// Lock locks a user until an admin unlocks them; open connections end at
// the server's next revocation check.
func (s *Store) Lock(ctx context.Context, name string) error {
	return s.execOne(ctx, `UPDATE users SET locked_until = ? WHERE name = ?`, lockedByHand, name)
}

// Unlock clears the failure count and any lock.
func (s *Store) Unlock(ctx context.Context, name string) error {
	return s.execOne(ctx, `UPDATE users SET failures = 0, locked_until = 0 WHERE name = ?`, name)
}

// ResetOTP returns a user to pending: the secret and recovery codes are gone,
// and a new enrollment window (and optional token) starts.
func (s *Store) ResetOTP(ctx context.Context, name string, enrollUntil time.Time, token string) error {
	tok := ""
	if token != "" {
		tok = s.key.mac("enroll-token", name, token)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET otp_kind = '', otp_secret = NULL, hotp_counter = 0,
			totp_last_step = 0, enroll_until = ?, enroll_token = ? WHERE name = ?`, enrollUntil.Unix(), tok, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery WHERE user = ?`, name)
		return err
	})
}

// SetOTP gives a user a second factor and recovery codes in one transaction.
// With onlyIfPending (self-enrollment) it fails with ErrAlreadyEnrolled when
// the user got a secret meanwhile, so two concurrent enrollments bind one secret.
func (s *Store) SetOTP(ctx context.Context, name string, o OTP, recovery []string, onlyIfPending bool) error {
	sealed, err := s.key.seal(name, o.Params.Secret)
	if err != nil {
		return err
	}
	cond := ""
	if onlyIfPending {
		cond = ` AND otp_kind = ''`
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET otp_kind = ?, otp_secret = ?, otp_digits = ?, otp_period = ?,
			otp_window = ?, hotp_counter = ?, totp_last_step = ?, enroll_token = '' WHERE name = ?`+cond,
			string(o.Params.Kind), sealed, o.Params.Digits, o.Params.Period, o.Params.Window,
			int64(o.Counter), o.LastStep, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if onlyIfPending {
				if _, err := s.userTx(ctx, tx, name); err != nil {
					return err
				}
				return ErrAlreadyEnrolled
			}
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery WHERE user = ?`, name); err != nil {
			return err
		}
		for _, c := range recovery {
			h := s.key.mac("recovery", name, oath.NormalizeRecovery(c))
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery(user, hash) VALUES(?, ?)`, name, h); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) userTx(ctx context.Context, tx *sql.Tx, name string) (*User, error) {
	return s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// CheckEnrollToken reports whether token is the user's outstanding enrollment
// token. The token is spent by SetOTP (on confirmed enrollment) or by ResetOTP.
func (s *Store) CheckEnrollToken(ctx context.Context, name, token string) error {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name = ? AND enroll_token != '' AND enroll_token = ?`,
		name, s.key.mac("enroll-token", name, token)).Scan(&n)
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrTokenRejected
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
