// The store API: users, their second factor and enrollment, on either dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"bastion/oath"
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

// Store is the state: an SQLite file or a PostgreSQL database.
type Store struct {
	db      *sql.DB
	d       *dialect
	key     *stateKey
	timeout time.Duration
	version Version
}

// Options say where the state is and how to reach it.
type Options struct {
	// State is a file path (SQLite) or a postgres:// URL without a password.
	State string
	// Key is the state key file: created only together with a new state.
	Key string
	// PasswordFile holds the PostgreSQL password; empty: PGPASSWORD or
	// PGPASSFILE as libpq reads them.
	PasswordFile string
	// MaxConns bounds the PostgreSQL pool; 0 means 10.
	MaxConns int
	// QueryTimeout bounds every store operation; 0 means 5s.
	QueryTimeout time.Duration
	// Tracer, if set, sees every PostgreSQL statement (benchmarks count
	// round trips with it). Ignored for SQLite.
	Tracer pgx.QueryTracer
}

// lockedByHand is the locked_until value meaning "until an admin unlocks".
const lockedByHand = -1

// Open opens the state file at path with its key; see OpenWith.
func Open(path, keyPath string) (*Store, error) {
	return OpenWith(context.Background(), Options{State: path, Key: keyPath})
}

// OpenWith opens (creating if needed) the state and its key, and migrates
// the schema. The key is created only together with a new state: a missing
// or wrong key for an existing state is an error, so the server never runs
// without its secrets and never falls back to "no 2FA".
func OpenWith(ctx context.Context, o Options) (*Store, error) {
	s := &Store{timeout: o.QueryTimeout}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	where := Redacted(o.State)
	var fresh bool
	var err error
	if IsURL(o.State) {
		s.d = postgresDialect
		maxConns := o.MaxConns
		if maxConns <= 0 {
			maxConns = 10
		}
		s.db, err = openPostgres(o.State, o.PasswordFile, maxConns, o.Tracer)
	} else {
		s.d = sqliteDialect
		s.db, fresh, err = openSQLite(o.State)
	}
	if err != nil {
		return nil, err
	}
	if err := s.init(ctx, o.Key, fresh); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("state %s: %w", where, err)
	}
	return s, nil
}

// init migrates, then loads the key and checks it against the state.
func (s *Store) init(ctx context.Context, keyPath string, fresh bool) error {
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // other replicas may hold the migration lock
	defer cancel()
	var err error
	if s.version, err = migrate(mctx, s.d, s.db); err != nil {
		return err
	}
	ctx, cancel = s.deadline(ctx)
	defer cancel()
	var check string
	err = s.scan(ctx, s.db, `SELECT v FROM meta WHERE k = 'key_check'`, nil, &check)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		// A database (not a file) is fresh when nothing in it needs a key.
		var n int
		if err := s.scan(ctx, s.db, `SELECT count(*) FROM users WHERE otp_secret IS NOT NULL`, nil, &n); err != nil {
			return err
		}
		if n > 0 {
			return ErrBadKey
		}
		if s.d != sqliteDialect {
			fresh = true
		}
	}
	if s.key, err = loadOrCreateKey(keyPath, fresh); err != nil {
		return err
	}
	if check == "" {
		// Two replicas starting on a new database: the first key wins, the
		// other one is refused below.
		if _, err := s.exec(ctx, s.db, `INSERT INTO meta(k, v) VALUES('key_check', ?) ON CONFLICT DO NOTHING`, s.key.check); err != nil {
			return err
		}
		if err := s.scan(ctx, s.db, `SELECT v FROM meta WHERE k = 'key_check'`, nil, &check); err != nil {
			return err
		}
	}
	if check != s.key.check {
		return ErrBadKey
	}
	return nil
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// SchemaVersion reports the schema versions seen when the store was opened.
func (s *Store) SchemaVersion() Version { return s.version }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const userCols = `name, password_hash, groups_csv, keys, otp_kind, otp_secret, otp_digits, otp_period,
	otp_window, hotp_counter, totp_last_step, failures, locked_until, created_at, enroll_until,
	enroll_token != '', last_login, last_source,
	(SELECT count(*) FROM recovery r WHERE r."user" = users.name AND r.used_at = 0)`

// scanUser decodes one row of userCols and opens the OTP secret.
func (s *Store) scanUser(scan func(dest ...any) error) (*User, error) {
	var (
		u                               User
		groups, keys, kind              string
		secret                          []byte
		digits, period, window          int
		counter, lastStep, locked       int64
		created, enrollUntil, lastLogin int64
	)
	err := scan(&u.Name, &u.PasswordHash, &groups, &keys, &kind, &secret, &digits, &period,
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
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return s.user(ctx, s.db, name)
}

func (s *Store) user(ctx context.Context, r runner, name string) (*User, error) {
	return s.scanUser(func(dest ...any) error {
		return s.scan(ctx, r, `SELECT `+userCols+` FROM users WHERE name = ?`, []any{name}, dest...)
	})
}

// Users returns all users ordered by name.
func (s *Store) Users(ctx context.Context) ([]*User, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, s.unavailable(err)
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := s.scanUser(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(err)
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
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tok := ""
	if n.EnrollToken != "" {
		tok = s.key.mac("enroll-token", n.Name, n.EnrollToken)
	}
	_, err := s.exec(ctx, s.db, `INSERT INTO users(name, password_hash, groups_csv, keys, created_at, enroll_until, enroll_token)
		VALUES(?, ?, ?, ?, ?, ?, ?)`, n.Name, n.PasswordHash, strings.Join(n.Groups, ","), strings.Join(n.Keys, "\n"),
		now.Unix(), n.EnrollUntil.Unix(), tok)
	if errors.Is(err, errUnique) {
		return ErrExists
	}
	return err
}

// execOne runs a statement that must change one user: none is ErrNotFound.
func (s *Store) execOne(ctx context.Context, q string, args ...any) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	n, err := s.exec(ctx, s.db, q, args...)
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
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
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tok := ""
	if token != "" {
		tok = s.key.mac("enroll-token", name, token)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE users SET otp_kind = '', otp_secret = NULL, hotp_counter = 0,
			totp_last_step = 0, enroll_until = ?, enroll_token = ? WHERE name = ?`, enrollUntil.Unix(), tok, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err = s.exec(ctx, tx, `DELETE FROM recovery WHERE "user" = ?`, name)
		return err
	})
}

// SetOTP gives a user a second factor and recovery codes in one transaction.
// With onlyIfPending (self-enrollment) it fails with ErrAlreadyEnrolled when
// the user got a secret meanwhile, so two concurrent enrollments bind one
// secret (a conditional UPDATE: atomic under READ COMMITTED too).
func (s *Store) SetOTP(ctx context.Context, name string, o OTP, recovery []string, onlyIfPending bool) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	sealed, err := s.key.seal(name, o.Params.Secret)
	if err != nil {
		return err
	}
	cond := ""
	if onlyIfPending {
		cond = ` AND otp_kind = ''`
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE users SET otp_kind = ?, otp_secret = ?, otp_digits = ?, otp_period = ?,
			otp_window = ?, hotp_counter = ?, totp_last_step = ?, enroll_token = '' WHERE name = ?`+cond,
			string(o.Params.Kind), sealed, o.Params.Digits, o.Params.Period, o.Params.Window,
			int64(o.Counter), o.LastStep, name)
		if err != nil {
			return err
		}
		if n == 0 {
			if onlyIfPending {
				if _, err := s.user(ctx, tx, name); err != nil {
					return err
				}
				return ErrAlreadyEnrolled
			}
			return ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM recovery WHERE "user" = ?`, name); err != nil {
			return err
		}
		for _, c := range recovery {
			h := s.key.mac("recovery", name, oath.NormalizeRecovery(c))
			if _, err := s.exec(ctx, tx, `INSERT INTO recovery("user", hash) VALUES(?, ?) ON CONFLICT DO NOTHING`, name, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckEnrollToken reports whether token is the user's outstanding enrollment
// token. The token is spent by SetOTP (on confirmed enrollment) or by ResetOTP.
func (s *Store) CheckEnrollToken(ctx context.Context, name, token string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int
	err := s.scan(ctx, s.db, `SELECT count(*) FROM users WHERE name = ? AND enroll_token != '' AND enroll_token = ?`,
		[]any{name, s.key.mac("enroll-token", name, token)}, &n)
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrTokenRejected
	}
	return nil
}
