// Check-and-consume of codes, atomic with the lockout: the lock is checked,
// and a failure counted, in the same statement or transaction that checks and
// consumes an OTP step, HOTP counter or recovery code.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"bastion/oath"
)

// ErrLocked reports a user locked at the time of the attempt: nothing was
// checked, consumed or counted.
var ErrLocked = errors.New("user is locked")

// Lockout is the failure policy applied where failures are counted.
type Lockout struct {
	After int           // consecutive failures that lock the user; < 1 never locks
	For   time.Duration // how long a lock lasts; 0: until an admin unlocks
}

// Failure reports what counting one failed attempt did.
type Failure struct {
	Counted bool      // the failure counted toward the lockout
	Locked  bool      // this failure locked the user
	Until   time.Time // end of that lock; zero when Locked: until an admin unlocks
}

// notLocked is true for a row not locked at the time bound to its one "?".
const notLocked = `(locked_until != -1 AND locked_until <= ?)`

// maxCASTries bounds the optimistic retries of ConsumeOTP when another login
// of the same user changed the OTP state between the read and the write.
const maxCASTries = 8

// errContended reports a consume that lost the race maxCASTries times.
var errContended = errors.New("too many concurrent logins for this user, try again")

// ConsumeOTP checks a code against the user's OTP state and consumes it,
// atomically with the lockout:
//   - locked at now: ErrLocked; check is not run, nothing changes;
//   - check fails: the failure is counted (and may lock the user) unless a
//     lock came first, and check's error is returned with the Failure;
//   - check passes: the new state is stored only if the user is still not
//     locked and the state is still the one check saw (a conditional UPDATE:
//     atomic under SQLite's single writer and PostgreSQL's READ COMMITTED);
//     otherwise the state is read again and check runs again.
func (s *Store) ConsumeOTP(ctx context.Context, name string, now time.Time, lk Lockout, check func(OTP) (OTP, error)) (Failure, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	for range maxCASTries {
		u, err := s.user(ctx, s.db, name)
		if err != nil {
			return Failure{}, err
		}
		if u.Locked(now) {
			return Failure{}, ErrLocked
		}
		if u.OTP == nil {
			f, err := s.countFailure(ctx, s.db, name, now, lk)
			if err != nil {
				return Failure{}, err
			}
			return f, ErrNotEnrolled
		}
		next, checkErr := check(*u.OTP)
		if checkErr != nil {
			f, err := s.countFailure(ctx, s.db, name, now, lk)
			if err != nil {
				return Failure{}, err
			}
			return f, checkErr
		}
		n, err := s.exec(ctx, s.db, `UPDATE users SET hotp_counter = ?, totp_last_step = ?
			WHERE name = ? AND otp_secret = ? AND hotp_counter = ? AND totp_last_step = ? AND `+notLocked,
			int64(next.Counter), next.LastStep, name, u.sealed, int64(u.OTP.Counter), u.OTP.LastStep, now.Unix())
		if err != nil {
			return Failure{}, err
		}
		if n == 1 {
			return Failure{}, nil
		}
		// Another login consumed a code, a lock came or the secret changed: look again.
	}
	return Failure{}, errContended
}

// UseRecoveryCode spends one recovery code (a code works once), atomically
// with the lockout like ConsumeOTP: a locked user gets ErrLocked and nothing
// is spent; a wrong code is counted and ErrRecoveryRejected returned.
func (s *Store) UseRecoveryCode(ctx context.Context, name, code string, now time.Time, lk Lockout) (Failure, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	h := s.key.mac("recovery", name, oath.NormalizeRecovery(code))
	var f Failure
	rejected := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Row-lock the user while checking the lock: a concurrent failure
		// count waits for this transaction, and this one for it.
		var n string
		err := s.scan(ctx, tx, `UPDATE users SET failures = failures WHERE name = ? AND `+notLocked+` RETURNING name`,
			[]any{name, now.Unix()}, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return s.lockedOrMissing(ctx, tx, name)
		}
		if err != nil {
			return err
		}
		used, err := s.exec(ctx, tx, `UPDATE recovery SET used_at = ? WHERE "user" = ? AND hash = ? AND used_at = 0`,
			now.Unix(), name, h)
		if err != nil {
			return err
		}
		if used == 1 {
			return nil
		}
		rejected = true
		f, err = s.countFailure(ctx, tx, name, now, lk)
		return err
	})
	switch {
	case err != nil:
		return Failure{}, err
	case rejected:
		return f, ErrRecoveryRejected
	}
	return Failure{}, nil
}

// RecordFailure counts a failed login that checked no code (a wrong password,
// a malformed answer). A user locked at now is not counted again: ErrLocked.
func (s *Store) RecordFailure(ctx context.Context, name string, now time.Time, lk Lockout) (Failure, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return s.countFailure(ctx, s.db, name, now, lk)
}

// RecordSuccess notes a login and resets the failure count. It never clears
// or shortens a lock: a lock that came during the login stays in force.
func (s *Store) RecordSuccess(ctx context.Context, name string, now time.Time, source string) error {
	return s.execOne(ctx, `UPDATE users SET last_login = ?, last_source = ?,
		failures = CASE WHEN `+notLocked+` THEN 0 ELSE failures END WHERE name = ?`,
		now.Unix(), source, now.Unix(), name)
}

// countFailure adds one failure to a user not locked at now, locking them when
// the count reaches lk.After, in one conditional UPDATE: of many concurrent
// failures exactly lk.After are counted before the lock, the rest see it.
func (s *Store) countFailure(ctx context.Context, r runner, name string, now time.Time, lk Lockout) (Failure, error) {
	after := lk.After
	if after < 1 {
		after = int(^uint32(0) >> 1)
	}
	lockTo := int64(lockedByHand)
	if lk.For > 0 {
		lockTo = now.Add(lk.For).Unix()
	}
	var lockedUntil int64
	err := s.scan(ctx, r, `UPDATE users SET
			failures = CASE WHEN failures + 1 >= ? THEN 0 ELSE failures + 1 END,
			locked_until = CASE WHEN failures + 1 >= ? THEN ? ELSE locked_until END
		WHERE name = ? AND `+notLocked+` RETURNING locked_until`,
		[]any{after, after, lockTo, name, now.Unix()}, &lockedUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return Failure{}, s.lockedOrMissing(ctx, r, name)
	}
	if err != nil {
		return Failure{}, err
	}
	f := Failure{Counted: true}
	if lockedUntil == lockedByHand || lockedUntil > now.Unix() {
		f.Locked = true
		if lockedUntil != lockedByHand {
			f.Until = time.Unix(lockedUntil, 0)
		}
	}
	return f, nil
}

// lockedOrMissing explains a conditional update that matched no row.
func (s *Store) lockedOrMissing(ctx context.Context, r runner, name string) error {
	var n string
	err := s.scan(ctx, r, `SELECT name FROM users WHERE name = ?`, []any{name}, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return ErrLocked
}
