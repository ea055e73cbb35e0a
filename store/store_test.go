// Tests for the SQLite state: key handling, encryption at rest and the atomic
// consume operations, against a real state file in a temporary directory.
package store

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bastion/oath"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type paths struct{ dir, state, key, pass string }

func newPaths(t *testing.T) paths {
	dir := t.TempDir()
	return paths{dir: dir, state: filepath.Join(dir, "state", "bastion.db"), key: filepath.Join(dir, "state", "state.key")}
}

func open(t *testing.T, p paths) *Store {
	t.Helper()
	s, err := openErr(p)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openErr(p paths) (*Store, error) {
	return OpenWith(context.Background(), Options{State: p.state, Key: p.key, PasswordFile: p.pass})
}

func addUser(t *testing.T, s *Store, name string) {
	t.Helper()
	if err := s.AddUser(context.Background(), NewUser{Name: name, PasswordHash: "$argon2id$x", EnrollUntil: t0.Add(time.Hour)}, t0); err != nil {
		t.Fatalf("AddUser(%s): %v", name, err)
	}
}

func totp(secret []byte) OTP {
	return OTP{Params: oath.Params{Kind: oath.KindTOTP, Secret: secret, Digits: 6, Period: 30, Window: 1}}
}

// consume and useRecovery run the check-and-consume operations without a lockout policy.
func consume(s *Store, name string, check func(OTP) (OTP, error)) error {
	_, err := s.ConsumeOTP(context.Background(), name, t0, Lockout{}, check)
	return err
}

func useRecovery(s *Store, name, code string) error {
	_, err := s.UseRecoveryCode(context.Background(), name, code, t0, Lockout{})
	return err
}

func getUser(t *testing.T, s *Store, name string) *User {
	t.Helper()
	u, err := s.User(context.Background(), name)
	if err != nil {
		t.Fatalf("User(%s): %v", name, err)
	}
	return u
}

func TestOpenCreatesPrivateKeyAndReopens(t *testing.T) { each(t, testOpenCreatesPrivateKeyAndReopens) }

func testOpenCreatesPrivateKeyAndReopens(t *testing.T, b backend) {
	p := b.newPaths(t)
	s := open(t, p)
	addUser(t, s, "alice")
	if err := s.SetOTP(context.Background(), "alice", totp([]byte("0123456789abcdefghij")), nil, false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	files := []string{p.key}
	if b == sqliteBackend {
		files = append(files, p.state)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, st.Mode().Perm())
		}
	}
	raw, err := os.ReadFile(p.key)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := hex.DecodeString(strings.TrimSpace(string(raw))); err != nil || len(k) != 32 {
		t.Errorf("key file %q is not 64 hex characters", raw)
	}

	s2 := open(t, p)
	u := getUser(t, s2, "alice")
	if u.OTP == nil || string(u.OTP.Params.Secret) != "0123456789abcdefghij" {
		t.Errorf("secret not readable after reopen: %+v", u.OTP)
	}
}

func TestStateSideFilesPrivate(t *testing.T) {
	p := newPaths(t)
	// The state directory already exists and is world-readable, as
	// /var/lib/bastion may be: only the file modes protect the state.
	if err := os.MkdirAll(filepath.Dir(p.state), 0o755); err != nil {
		t.Fatal(err)
	}
	s := open(t, p)
	addUser(t, s, "alice") // the password hash now sits in the WAL
	seen := 0
	for _, f := range []string{p.state, p.state + "-wal", p.state + "-shm"} {
		st, err := os.Stat(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: group or others can read the state", filepath.Base(f), st.Mode().Perm())
		}
	}
	if seen < 2 {
		t.Fatalf("expected the state file and its WAL, found %d files", seen)
	}
}

func TestOpenWrongKey(t *testing.T) { each(t, testOpenWrongKey) }

func testOpenWrongKey(t *testing.T, b backend) {
	p := b.newPaths(t)
	s := open(t, p)
	addUser(t, s, "alice")
	s.Close()
	other := strings.Repeat("ab", 32) + "\n"
	if err := os.WriteFile(p.key, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openErr(p); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Open with another key: err = %v, want ErrBadKey", err)
	}
}

func TestOpenMissingKeyNeverFallsBack(t *testing.T) { each(t, testOpenMissingKeyNeverFallsBack) }

func testOpenMissingKeyNeverFallsBack(t *testing.T, b backend) {
	p := b.newPaths(t)
	open(t, p).Close()
	if err := os.Remove(p.key); err != nil {
		t.Fatal(err)
	}
	if s, err := openErr(p); err == nil {
		s.Close()
		t.Fatal("Open of an existing state without its key succeeded")
	}
	if _, err := os.Stat(p.key); !os.IsNotExist(err) {
		t.Errorf("a new key was created for an existing state file (stat err %v)", err)
	}
}

func TestOpenRefusesReadableFiles(t *testing.T) {
	for _, which := range []string{"state", "key"} {
		t.Run(which, func(t *testing.T) {
			p := newPaths(t)
			open(t, p).Close()
			f := p.state
			if which == "key" {
				f = p.key
			}
			if err := os.Chmod(f, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := openErr(p)
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted a world-readable %s file", which)
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error %q does not name %s", err, f)
			}
		})
	}
}

func TestOpenCorruptState(t *testing.T) {
	p := newPaths(t)
	if err := os.MkdirAll(filepath.Dir(p.state), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.key, []byte(strings.Repeat("01", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte("this is not a database\x00\xff\xfe"), 200)
	if err := os.WriteFile(p.state, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openErr(p)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a corrupt state file")
	}
	if !strings.Contains(err.Error(), p.state) {
		t.Errorf("error %q does not name the state file", err)
	}
}

func TestOTPSecretEncryptedAtRest(t *testing.T) {
	p := newPaths(t)
	s := open(t, p)
	addUser(t, s, "alice")
	secret := []byte("Zq7!secret-seed-9xKw")
	if err := s.SetOTP(context.Background(), "alice", totp(secret), []string{"abcde-fghjk"}, false); err != nil {
		t.Fatal(err)
	}
	forms := [][]byte{
		secret,
		[]byte(oath.EncodeSecret(secret)),
		[]byte(base32.StdEncoding.EncodeToString(secret)),
		[]byte(hex.EncodeToString(secret)),
		[]byte("abcdefghjk"), // the recovery code, normalized
		[]byte("abcde-fghjk"),
	}
	check := func(when string) {
		t.Helper()
		n := 0
		for _, f := range []string{p.state, p.state + "-wal"} {
			raw, err := os.ReadFile(f)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n += len(raw)
			for _, form := range forms {
				if bytes.Contains(raw, form) {
					t.Errorf("%s: %s contains %q in clear", when, filepath.Base(f), form)
				}
			}
		}
		if n == 0 {
			t.Fatalf("%s: nothing on disk to check", when)
		}
	}
	check("open")
	s.Close()
	check("closed")

	// And the column holds ciphertext, not the secret.
	s2 := open(t, p)
	var col []byte
	if err := s2.db.QueryRow(`SELECT otp_secret FROM users WHERE name = 'alice'`).Scan(&col); err != nil {
		t.Fatal(err)
	}
	if len(col) <= len(secret) || bytes.Contains(col, secret) {
		t.Errorf("otp_secret column %x is not sealed", col)
	}
}

func TestSealedSecretBoundToUser(t *testing.T) { each(t, testSealedSecretBoundToUser) }

func testSealedSecretBoundToUser(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	addUser(t, s, "bob")
	ctx := context.Background()
	if err := s.SetOTP(ctx, "alice", totp([]byte("alice-secret-0123456")), nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOTP(ctx, "bob", totp([]byte("bob-secret-012345678")), nil, false); err != nil {
		t.Fatal(err)
	}
	// Copying alice's ciphertext to bob must not give bob alice's secret.
	if _, err := s.db.Exec(`UPDATE users SET otp_secret = (SELECT otp_secret FROM users WHERE name = 'alice') WHERE name = 'bob'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "bob"); !errors.Is(err, ErrBadKey) {
		t.Errorf("User(bob) with alice's ciphertext: err = %v, want ErrBadKey", err)
	}
}

func TestConsumeOTPConcurrentReplay(t *testing.T) { each(t, testConsumeOTPConcurrentReplay) }

func testConsumeOTPConcurrentReplay(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	o := totp([]byte("12345678901234567890"))
	ctx := context.Background()
	if err := s.SetOTP(ctx, "alice", o, nil, false); err != nil {
		t.Fatal(err)
	}
	now := t0
	code := oath.Code(o.Params, uint64(oath.Step(o.Params, now)))
	check := func(cur OTP) (OTP, error) {
		step, err := oath.VerifyTOTP(cur.Params, code, now, cur.LastStep)
		if err != nil {
			return cur, err
		}
		cur.LastStep = step
		return cur, nil
	}

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = consume(s, "alice", check)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, oath.ErrReplayed):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d goroutines consumed the same code, want exactly 1", ok)
	}
	if got := getUser(t, s, "alice").OTP.LastStep; got != oath.Step(o.Params, now) {
		t.Errorf("LastStep = %d, want %d", got, oath.Step(o.Params, now))
	}
}

func TestConsumeOTPFailedCheckChangesNothing(t *testing.T) {
	each(t, testConsumeOTPFailedCheckChangesNothing)
}

func testConsumeOTPFailedCheckChangesNothing(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	ctx := context.Background()
	o := OTP{Params: oath.Params{Kind: oath.KindHOTP, Secret: []byte("12345678901234567890"), Window: 3}, Counter: 7}
	if err := s.SetOTP(ctx, "alice", o, nil, false); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := consume(s, "alice", func(cur OTP) (OTP, error) {
		if cur.Counter != 7 {
			t.Errorf("check saw counter %d, want 7", cur.Counter)
		}
		cur.Counter = 99
		return cur, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the check's error", err)
	}
	if got := getUser(t, s, "alice").OTP.Counter; got != 7 {
		t.Errorf("counter = %d after a failed check, want 7", got)
	}
	if err := consume(s, "alice", func(cur OTP) (OTP, error) { cur.Counter = 9; return cur, nil }); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, "alice").OTP.Counter; got != 9 {
		t.Errorf("counter = %d, want 9", got)
	}

	addUser(t, s, "pending")
	if err := consume(s, "pending", func(cur OTP) (OTP, error) { return cur, nil }); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("ConsumeOTP on a pending user: %v, want ErrNotEnrolled", err)
	}
	if err := consume(s, "nobody", func(cur OTP) (OTP, error) { return cur, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("ConsumeOTP on a missing user: %v, want ErrNotFound", err)
	}
}

func TestSetOTPOnlyIfPendingConcurrent(t *testing.T) { each(t, testSetOTPOnlyIfPendingConcurrent) }

func testSetOTPOnlyIfPendingConcurrent(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	ctx := context.Background()
	const n = 5
	secrets := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		secrets[i] = []byte(strings.Repeat(string(rune('a'+i)), 20))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.SetOTP(ctx, "alice", totp(secrets[i]), []string{"aaaaa-bbbb" + string(rune('a'+i))}, true)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("both %d and %d bound a secret", winner, i)
			}
			winner = i
		case !errors.Is(err, ErrAlreadyEnrolled):
			t.Errorf("SetOTP %d: %v, want ErrAlreadyEnrolled", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no SetOTP succeeded")
	}
	u := getUser(t, s, "alice")
	if u.OTP == nil || !bytes.Equal(u.OTP.Params.Secret, secrets[winner]) {
		t.Errorf("stored secret %q, want the winner's %q", u.OTP.Params.Secret, secrets[winner])
	}
	if u.RecoveryLeft != 1 {
		t.Errorf("RecoveryLeft = %d, want 1 (only the winner's code)", u.RecoveryLeft)
	}
	if err := useRecovery(s, "alice", "aaaaa-bbbb"+string(rune('a'+winner))); err != nil {
		t.Errorf("winner's recovery code rejected: %v", err)
	}
	if err := s.SetOTP(ctx, "nobody", totp(secrets[0]), nil, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetOTP on a missing user: %v, want ErrNotFound", err)
	}
}

func TestUseRecoveryCode(t *testing.T) { each(t, testUseRecoveryCode) }

func testUseRecoveryCode(t *testing.T, b backend) {
	s := b.store(t)
	ctx := context.Background()
	addUser(t, s, "alice")
	addUser(t, s, "bob")
	if err := s.SetOTP(ctx, "alice", totp([]byte("12345678901234567890")), []string{"abcde-fghjk", "mnpqr-stuvw", "xyz23-45678"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOTP(ctx, "bob", totp([]byte("12345678901234567890")), []string{"bbbbb-ccccc"}, false); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, "alice").RecoveryLeft; got != 3 {
		t.Fatalf("RecoveryLeft = %d, want 3", got)
	}
	if err := useRecovery(s, "alice", "abcde-fghjk"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := useRecovery(s, "alice", "abcde-fghjk"); !errors.Is(err, ErrRecoveryRejected) {
		t.Errorf("second use: %v, want ErrRecoveryRejected", err)
	}
	// Typed loosely: upper case, no dash, spaces.
	if err := useRecovery(s, "alice", "MNPQRSTUVW"); err != nil {
		t.Errorf("upper case without dash: %v", err)
	}
	if err := useRecovery(s, "alice", " xyz-23 45-678"); err != nil {
		t.Errorf("extra dashes and spaces: %v", err)
	}
	if got := getUser(t, s, "alice").RecoveryLeft; got != 0 {
		t.Errorf("RecoveryLeft = %d after using all, want 0", got)
	}
	for _, c := range []string{"bbbbb-ccccc", "abcde-fghjx", "", strings.Repeat("a", 100)} {
		if err := useRecovery(s, "alice", c); !errors.Is(err, ErrRecoveryRejected) {
			t.Errorf("alice with %q: %v, want ErrRecoveryRejected", c, err)
		}
	}
	// bob's code still works for bob: alice's failed try did not spend it.
	if err := useRecovery(s, "bob", "bbbbb-ccccc"); err != nil {
		t.Errorf("bob's own code: %v", err)
	}
}

func TestRecordFailureAndLock(t *testing.T) { each(t, testRecordFailureAndLock) }

func testRecordFailureAndLock(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t)
	addUser(t, s, "alice")
	for i := 1; i < 3; i++ {
		f, err := s.RecordFailure(ctx, "alice", t0, Lockout{3, 5 * time.Minute})
		locked := f.Locked
		if err != nil || locked {
			t.Fatalf("failure %d: locked=%v err=%v", i, locked, err)
		}
		if u := getUser(t, s, "alice"); u.Failures != i || u.Locked(t0) {
			t.Fatalf("after %d failures: Failures=%d Locked=%v", i, u.Failures, u.Locked(t0))
		}
	}
	f, err := s.RecordFailure(ctx, "alice", t0, Lockout{3, 5 * time.Minute})
	locked, until := f.Locked, f.Until
	if err != nil || !locked || !until.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("third failure: locked=%v until=%v err=%v", locked, until, err)
	}
	u := getUser(t, s, "alice")
	if !u.Locked(t0) || !u.Locked(t0.Add(5*time.Minute-time.Second)) || u.LockedByHand {
		t.Errorf("not locked by time: %+v", u)
	}
	if u.Locked(t0.Add(5 * time.Minute)) {
		t.Error("still locked when the lock expired")
	}
	if err := s.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u := getUser(t, s, "alice"); u.Locked(t0) || u.Failures != 0 {
		t.Errorf("after Unlock: %+v", u)
	}

	// lockFor 0: locked until an admin unlocks.
	f, err = s.RecordFailure(ctx, "alice", t0, Lockout{1, 0})
	locked, until = f.Locked, f.Until
	if err != nil || !locked || !until.IsZero() {
		t.Fatalf("lockFor 0: locked=%v until=%v err=%v", locked, until, err)
	}
	if u := getUser(t, s, "alice"); !u.LockedByHand || !u.Locked(t0.Add(1000*time.Hour)) {
		t.Errorf("not locked by hand: %+v", u)
	}
	if err := s.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u := getUser(t, s, "alice"); u.Locked(t0) || u.LockedByHand {
		t.Errorf("Unlock did not clear the hand lock: %+v", u)
	}

	// RecordSuccess resets the count and notes the login.
	for range 2 {
		if _, err := s.RecordFailure(ctx, "alice", t0, Lockout{3, time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSuccess(ctx, "alice", t0, "192.0.2.1:5555"); err != nil {
		t.Fatal(err)
	}
	u = getUser(t, s, "alice")
	if u.Failures != 0 || !u.LastLogin.Equal(t0) || u.LastSource != "192.0.2.1:5555" {
		t.Errorf("after RecordSuccess: %+v", u)
	}
	if f, _ := s.RecordFailure(ctx, "alice", t0, Lockout{3, time.Minute}); f.Locked {
		t.Error("one failure after success locked: the count was not reset")
	}

	if _, err := s.RecordFailure(ctx, "nobody", t0, Lockout{3, time.Minute}); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordFailure(nobody): %v, want ErrNotFound", err)
	}
	if err := s.Unlock(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unlock(nobody): %v, want ErrNotFound", err)
	}
}

func TestResetOTPAndEnrollToken(t *testing.T) { each(t, testResetOTPAndEnrollToken) }

func testResetOTPAndEnrollToken(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store(t)
	if err := s.AddUser(ctx, NewUser{Name: "alice", PasswordHash: "h", EnrollUntil: t0}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser(ctx, NewUser{Name: "alice", PasswordHash: "h"}, t0); !errors.Is(err, ErrExists) {
		t.Errorf("second AddUser: %v, want ErrExists", err)
	}
	if u := getUser(t, s, "alice"); u.HasToken || u.OTP != nil {
		t.Errorf("new user: %+v", u)
	}
	if err := s.CheckEnrollToken(ctx, "alice", ""); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("empty token with none outstanding: %v, want ErrTokenRejected", err)
	}
	if err := s.SetOTP(ctx, "alice", totp([]byte("12345678901234567890")), []string{"abcde-fghjk"}, false); err != nil {
		t.Fatal(err)
	}

	until := t0.Add(72 * time.Hour)
	if err := s.ResetOTP(ctx, "alice", until, "tok-123"); err != nil {
		t.Fatal(err)
	}
	u := getUser(t, s, "alice")
	if u.OTP != nil || u.RecoveryLeft != 0 || !u.EnrollUntil.Equal(until) || !u.HasToken {
		t.Errorf("after ResetOTP: OTP=%v RecoveryLeft=%d EnrollUntil=%v HasToken=%v", u.OTP, u.RecoveryLeft, u.EnrollUntil, u.HasToken)
	}
	if err := useRecovery(s, "alice", "abcde-fghjk"); !errors.Is(err, ErrRecoveryRejected) {
		t.Errorf("old recovery code after reset: %v", err)
	}
	if err := s.CheckEnrollToken(ctx, "alice", "tok-123"); err != nil {
		t.Errorf("right token: %v", err)
	}
	if err := s.CheckEnrollToken(ctx, "alice", "tok-124"); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("wrong token: %v, want ErrTokenRejected", err)
	}
	if err := s.CheckEnrollToken(ctx, "bob", "tok-123"); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("token for another name: %v, want ErrTokenRejected", err)
	}
	// Checking does not spend it.
	if err := s.CheckEnrollToken(ctx, "alice", "tok-123"); err != nil {
		t.Errorf("right token, second check: %v", err)
	}
	if err := s.SetOTP(ctx, "alice", totp([]byte("abcdefghijabcdefghij")), nil, true); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckEnrollToken(ctx, "alice", "tok-123"); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("token after SetOTP: %v, want ErrTokenRejected", err)
	}
	if getUser(t, s, "alice").HasToken {
		t.Error("HasToken after SetOTP")
	}
	// A reset with a new token replaces the old one.
	if err := s.ResetOTP(ctx, "alice", until, "tok-new"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetOTP(ctx, "alice", until, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckEnrollToken(ctx, "alice", "tok-new"); !errors.Is(err, ErrTokenRejected) {
		t.Errorf("token after a reset without token: %v, want ErrTokenRejected", err)
	}
	if err := s.ResetOTP(ctx, "nobody", until, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResetOTP(nobody): %v, want ErrNotFound", err)
	}
}
