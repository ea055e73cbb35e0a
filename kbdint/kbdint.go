// Package kbdint owns the second step of a login: the keyboard-interactive
// rounds `Password:` then `Verification code:` (or first-login enrollment),
// the check of both factors, replay refusal, recovery codes and lockout.
//
// Invariants, kept short enough to read in one sitting:
//   - Both prompts are always asked, so a client learns only "denied", never
//     which factor failed; the audit log records which one did.
//   - The code is checked only when the password was right, so a guesser
//     cannot burn a user's codes; a code that passed is never accepted again.
//   - Every failed login counts toward the lockout; a locked user is refused
//     before any prompt, with a message saying for how long.
//   - The lock is checked again, and a failure counted, in the same store
//     transaction that checks and consumes the code: however many connections
//     wait at the prompt, at most LockoutAfter codes are checked per lock, a
//     right code during a lock is refused and not consumed, and a success
//     never clears a lock in force.
//   - Nothing here decides identity: the caller turns the returned user into
//     the final ssh.Permissions.
package kbdint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
)

// Prompts, exactly as sshd + PAM + pam_google_authenticator show them.
const (
	PromptPassword = "Password: "
	PromptCode     = "Verification code: "
)

// Outcomes callers branch on.
var (
	ErrDenied      = errors.New("permission denied")
	ErrLocked      = errors.New("account locked")
	ErrAuditFailed = errors.New("audit log unavailable")
)

// MsgStoreDown is what a client sees when the state store cannot be reached
// (PostgreSQL down): the login is refused, nothing is counted.
const MsgStoreDown = "bastion: state store unavailable, try again\n"

// MsgAuditDown is what a client sees when the audit log cannot be written.
const MsgAuditDown = "bastion: the audit log cannot be written, so logins are refused. Contact an administrator.\n"

// Store is the part of the state kbdint uses. The code checks count their own
// failures toward the lockout, in the same transaction as the check.
type Store interface {
	User(ctx context.Context, name string) (*store.User, error)
	ConsumeOTP(ctx context.Context, name string, now time.Time, lk store.Lockout, check func(store.OTP) (store.OTP, error)) (store.Failure, error)
	UseRecoveryCode(ctx context.Context, name, code string, now time.Time, lk store.Lockout) (store.Failure, error)
	RecordFailure(ctx context.Context, name string, now time.Time, lk store.Lockout) (store.Failure, error)
	RecordSuccess(ctx context.Context, name string, now time.Time, source string) error
}

// Enroller runs first-login enrollment for a pending user whose password was
// right. It returns nil only when the user now has a confirmed second factor.
type Enroller interface {
	// passwordOK is false when the password was wrong: the dialog must look
	// the same and fail only after the code, so it is no password oracle.
	Enroll(ctx context.Context, u *store.User, a Attempt, client ssh.KeyboardInteractiveChallenge, passwordOK bool) error
}

// Policy is the part of the config kbdint applies. The OTP window is the
// user's own (set at enrollment or import), stored with the secret.
type Policy struct {
	LockoutAfter int
	LockoutTime  time.Duration
}

func (p Policy) lockout() store.Lockout {
	return store.Lockout{After: p.LockoutAfter, For: p.LockoutTime}
}

// Attempt is one login's context, filled by the gateway.
type Attempt struct {
	User   string
	Source string
	// Notify shows a message to the client (an SSH auth banner).
	Notify func(msg string)
	// Audit records an event; an error means the record was not written.
	Audit func(audit.Event) error
	// ExtendDeadline, if set, gives the login d more from now: enrollment
	// asks for enroll.max_time instead of what is left of the grace time.
	ExtendDeadline func(d time.Duration)
}

// Verifier checks the second step of a login.
type Verifier struct {
	Store  Store
	Policy func() Policy
	Enroll Enroller
	Now    func() time.Time
}

// maxAnswer bounds any answer we look at; longer ones are failures.
const maxAnswer = 1024

// Login runs the keyboard-interactive rounds for a.User. It returns the user
// only when every factor passed and the success was recorded.
func (v *Verifier) Login(ctx context.Context, a Attempt, client ssh.KeyboardInteractiveChallenge) (*store.User, error) {
	now := v.Now()
	pol := v.Policy()
	u, err := v.Store.User(ctx, a.User)
	if err != nil {
		return nil, v.storeDown(a, a.User, err)
	}
	if u.Locked(now) {
		a.Notify(LockedMessage(u, now))
		a.Audit(audit.Event{Type: "login.failure", User: u.Name, Result: "fail", Fields: map[string]string{"reason": "locked"}})
		return nil, ErrLocked
	}

	password, err := ask(client, PromptPassword)
	if err != nil && !errors.Is(err, errAnswerCount) {
		return nil, fmt.Errorf("%w: %v", ErrDenied, err)
	}
	pwOK := false
	if err == nil {
		ok, err := passwd.VerifyContext(ctx, u.PasswordHash, password)
		if ctx.Err() != nil { // the grace deadline passed while queued for a hashing slot: not a wrong password
			return nil, fmt.Errorf("%w: %v", ErrDenied, err)
		}
		pwOK = err == nil && ok
	}
	a.Audit(audit.Event{Type: "auth.password", User: u.Name, Result: result(pwOK)})

	if u.OTP == nil && v.Enroll != nil {
		// A pending user gets the same dialog whatever the password; a wrong
		// one fails (and counts) only after the code.
		err := v.Enroll.Enroll(ctx, u, a, client, pwOK)
		switch {
		case err == nil:
			// Return the user as enrolled: the caller's identity (and its
			// revocation check) covers the secret just bound.
			if u, err = v.Store.User(ctx, u.Name); err != nil {
				return nil, fmt.Errorf("%w: read after enrollment: %v", ErrDenied, err)
			}
			return v.succeed(ctx, u, a, now, "enrollment")
		case !pwOK:
			return nil, v.fail(ctx, u, a, pol, "wrong password")
		}
		return nil, fmt.Errorf("%w: %v", ErrDenied, err)
	}

	code, err := ask(client, PromptCode)
	if err != nil && !errors.Is(err, errAnswerCount) {
		if !pwOK {
			// Leaving after a wrong password still counts: the second prompt
			// (enrollment or code) must not become a free password oracle.
			return nil, v.fail(ctx, u, a, pol, "wrong password, then left")
		}
		return nil, fmt.Errorf("%w: %v", ErrDenied, err)
	}
	reason := "wrong password"
	if pwOK {
		method, counted, err := "otp", store.Failure{}, err // errAnswerCount: a malformed answer, checked as a failure
		if err == nil {
			// The time the code was typed, not the login's start; the lock is
			// checked again, and a failure counted, with the code.
			method, counted, err = v.checkCode(ctx, u, code, v.Now(), pol)
		}
		if err == nil {
			a.Audit(audit.Event{Type: "auth." + method, User: u.Name, Result: "ok"})
			return v.succeed(ctx, u, a, now, method)
		}
		if errors.Is(err, store.ErrLocked) {
			return nil, v.refuseLocked(ctx, u, a)
		}
		if errors.Is(err, store.ErrUnavailable) {
			return nil, v.storeDown(a, u.Name, err)
		}
		reason = err.Error()
		a.Audit(audit.Event{Type: "auth." + method, User: u.Name, Result: "fail", Fields: map[string]string{"reason": reason}})
		if counted.Counted {
			return nil, v.failed(u, a, pol, reason, counted)
		}
	}
	return nil, v.fail(ctx, u, a, pol, reason)
}

// storeDown refuses a login the store could not decide, telling the client
// to retry when the store is unreachable; err's detail stays in the log.
func (v *Verifier) storeDown(a Attempt, user string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		a.Notify(MsgStoreDown)
		a.Audit(audit.Event{Type: "login.failure", User: user, Result: "fail", Fields: map[string]string{"reason": "state store unavailable"}})
	}
	return fmt.Errorf("%w: %v", ErrDenied, err)
}

// refuseLocked tells a user locked during the login (by failures on other
// connections or replicas) that they are locked; their code was not checked.
func (v *Verifier) refuseLocked(ctx context.Context, u *store.User, a Attempt) error {
	now := v.Now()
	if cur, err := v.Store.User(ctx, u.Name); err == nil && cur.Locked(now) {
		a.Notify(LockedMessage(cur, now))
	}
	a.Audit(audit.Event{Type: "login.failure", User: u.Name, Result: "fail", Fields: map[string]string{"reason": "locked"}})
	return ErrLocked
}

// checkCode verifies an OTP or a recovery code and consumes it atomically
// with the lockout. It returns the method name used, for the audit record,
// and what counting a failure did.
func (v *Verifier) checkCode(ctx context.Context, u *store.User, code string, now time.Time, pol Policy) (string, store.Failure, error) {
	if u.OTP == nil {
		return "otp", store.Failure{}, errors.New("no second factor enrolled")
	}
	if len(code) > maxAnswer {
		return "otp", store.Failure{}, oath.ErrFormat
	}
	if oath.LooksLikeRecovery(code, u.OTP.Params.Digits) || scratchFor8Digits(u, code, now) {
		f, err := v.Store.UseRecoveryCode(ctx, u.Name, code, now, pol.lockout())
		return "recovery", f, err
	}
	f, err := v.Store.ConsumeOTP(ctx, u.Name, now, pol.lockout(), func(o store.OTP) (store.OTP, error) {
		p := o.Params
		switch p.Kind {
		case oath.KindTOTP:
			step, err := oath.VerifyTOTP(p, code, now, o.LastStep)
			if err != nil {
				return o, err
			}
			o.LastStep = step
		case oath.KindHOTP:
			next, err := oath.VerifyHOTP(p, code, o.Counter)
			if err != nil {
				return o, err
			}
			o.Counter = next
		default:
			return o, fmt.Errorf("unknown otp kind %q", p.Kind)
		}
		return o, nil
	})
	return "otp", f, err
}

func (v *Verifier) succeed(ctx context.Context, u *store.User, a Attempt, now time.Time, method string) (*store.User, error) {
	if err := a.Audit(audit.Event{Type: "login.success", User: u.Name, Result: "ok", Fields: map[string]string{"method": method}}); err != nil {
		a.Notify(MsgAuditDown)
		return nil, fmt.Errorf("%w: %v", ErrAuditFailed, err)
	}
	if err := v.Store.RecordSuccess(ctx, u.Name, now, a.Source); err != nil {
		return nil, v.storeDown(a, u.Name, fmt.Errorf("record success: %w", err))
	}
	return u, nil
}

// fail counts a failure that checked no code (wrong password, malformed
// answer), then records it like failed.
func (v *Verifier) fail(ctx context.Context, u *store.User, a Attempt, pol Policy, reason string) error {
	f, err := v.Store.RecordFailure(ctx, u.Name, v.Now(), pol.lockout())
	if err != nil && !errors.Is(err, store.ErrLocked) {
		a.Audit(audit.Event{Type: "login.failure", User: u.Name, Result: "fail", Fields: map[string]string{"reason": reason}})
		return fmt.Errorf("%w: %s; record failure: %v", ErrDenied, reason, err)
	}
	return v.failed(u, a, pol, reason, f)
}

// failed audits a counted failure and the lock it may have set.
func (v *Verifier) failed(u *store.User, a Attempt, pol Policy, reason string, f store.Failure) error {
	a.Audit(audit.Event{Type: "login.failure", User: u.Name, Result: "fail", Fields: map[string]string{"reason": reason}})
	if f.Locked {
		fields := map[string]string{}
		if f.Until.IsZero() {
			fields["until"] = "admin unlock"
		} else {
			fields["until"] = f.Until.UTC().Format(time.RFC3339)
		}
		a.Audit(audit.Event{Type: "lockout", User: u.Name, Result: "fail", Fields: fields, Num: map[string]int64{"after": int64(pol.LockoutAfter)}})
	}
	return fmt.Errorf("%w: %s", ErrDenied, reason)
}

// LockedMessage tells a locked user how long the lock lasts, or whom to ask.
func LockedMessage(u *store.User, now time.Time) string {
	if u.LockedByHand {
		return "bastion: your account is locked after too many failed logins. Contact an administrator to unlock it.\n"
	}
	left := u.LockedUntil.Sub(now).Round(time.Second)
	return fmt.Sprintf("bastion: your account is locked after too many failed logins. Try again in %s.\n", left)
}

// errAnswerCount reports a round answered with other than one answer: a
// malformed answer, which fails the login (and counts) like a wrong one.
var errAnswerCount = errors.New("malformed answer")

// ask runs one round with one hidden prompt and returns the single answer.
// An error other than errAnswerCount means the client is gone.
func ask(client ssh.KeyboardInteractiveChallenge, prompt string) (string, error) {
	answers, err := client("", "", []string{prompt}, []bool{false})
	if err != nil {
		return "", err
	}
	if len(answers) != 1 {
		return "", fmt.Errorf("%w: want 1 answer, got %d", errAnswerCount, len(answers))
	}
	return answers[0], nil // length is bounded by the SSH packet limit; checkers bound it further
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "fail"
}
