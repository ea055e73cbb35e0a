// Tests for the lockout race (issue 9 #3): the lock is checked, and failures
// counted, atomically with the code check, however many logins run at once.
package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"bastion/oath"
)

// TestConcurrentWrongCodesCountExactlyLockoutAfter runs many wrong codes at
// once: exactly After of them are checked and counted, the rest see the lock.
func TestConcurrentWrongCodesCountExactlyLockoutAfter(t *testing.T) {
	each(t, testConcurrentWrongCodesCountExactlyLockoutAfter)
}

func testConcurrentWrongCodesCountExactlyLockoutAfter(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	ctx := context.Background()
	o := totp([]byte("12345678901234567890"))
	if err := s.SetOTP(ctx, "alice", o, []string{"abcde-fghjk"}, false); err != nil {
		t.Fatal(err)
	}
	lk := Lockout{After: 3, For: 5 * time.Minute}
	const n = 12
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		checks int
		errs   = make([]error, n)
		fails  = make([]Failure, n)
	)
	wrong := func(cur OTP) (OTP, error) {
		mu.Lock()
		checks++
		mu.Unlock()
		return cur, oath.ErrInvalid
	}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fails[i], errs[i] = s.ConsumeOTP(ctx, "alice", t0, lk, wrong)
		}()
	}
	close(start)
	wg.Wait()
	counted, locks, locked := 0, 0, 0
	for i, err := range errs {
		switch {
		case errors.Is(err, oath.ErrInvalid):
			if !fails[i].Counted {
				t.Errorf("attempt %d: a checked wrong code was not counted", i)
			}
			counted++
			if fails[i].Locked {
				locks++
			}
		case errors.Is(err, ErrLocked):
			locked++
		default:
			t.Errorf("attempt %d: %v", i, err)
		}
	}
	if counted != lk.After || locks != 1 || locked != n-lk.After {
		t.Errorf("counted %d (want %d), locks set %d (want 1), refused as locked %d (want %d)", counted, lk.After, locks, locked, n-lk.After)
	}
	if checks < lk.After {
		t.Errorf("%d checks ran, want at least %d", checks, lk.After)
	}
	u := getUser(t, s, "alice")
	if !u.Locked(t0) || !u.LockedUntil.Equal(t0.Add(lk.For)) {
		t.Fatalf("after the race: locked=%v until %v, want until %v", u.Locked(t0), u.LockedUntil, t0.Add(lk.For))
	}

	// During the lock: a right code is refused and not consumed, a recovery
	// code is not spent, a failure does not extend the lock, a success clears nothing.
	code := oath.Code(o.Params, uint64(oath.Step(o.Params, t0)))
	during := t0.Add(time.Minute)
	ran := false
	_, err := s.ConsumeOTP(ctx, "alice", during, lk, func(cur OTP) (OTP, error) {
		ran = true
		step, err := oath.VerifyTOTP(cur.Params, code, t0, cur.LastStep)
		cur.LastStep = step
		return cur, err
	})
	if !errors.Is(err, ErrLocked) || ran {
		t.Errorf("right code during the lock: err=%v check ran=%v, want ErrLocked without a check", err, ran)
	}
	if _, err := s.UseRecoveryCode(ctx, "alice", "abcde-fghjk", during, lk); !errors.Is(err, ErrLocked) {
		t.Errorf("recovery code during the lock: %v, want ErrLocked", err)
	}
	if _, err := s.RecordFailure(ctx, "alice", during, lk); !errors.Is(err, ErrLocked) {
		t.Errorf("failure during the lock: %v, want ErrLocked", err)
	}
	if err := s.RecordSuccess(ctx, "alice", during, "192.0.2.1:1"); err != nil {
		t.Fatal(err)
	}
	u = getUser(t, s, "alice")
	if !u.LockedUntil.Equal(t0.Add(lk.For)) || u.OTP.LastStep != 0 || u.RecoveryLeft != 1 {
		t.Errorf("the lock changed something: until %v (want %v), LastStep %d (want 0), RecoveryLeft %d (want 1)",
			u.LockedUntil, t0.Add(lk.For), u.OTP.LastStep, u.RecoveryLeft)
	}

	// After the lock: the same code and the recovery code work.
	after := t0.Add(lk.For)
	if _, err := s.ConsumeOTP(ctx, "alice", after, lk, func(cur OTP) (OTP, error) {
		step, err := oath.VerifyTOTP(cur.Params, code, t0, cur.LastStep)
		cur.LastStep = step
		return cur, err
	}); err != nil {
		t.Errorf("right code after the lock: %v", err)
	}
	if _, err := s.UseRecoveryCode(ctx, "alice", "abcde-fghjk", after, lk); err != nil {
		t.Errorf("recovery code after the lock: %v", err)
	}
}

// TestConcurrentWrongRecoveryCodes is the same race through recovery codes.
func TestConcurrentWrongRecoveryCodes(t *testing.T) { each(t, testConcurrentWrongRecoveryCodes) }

func testConcurrentWrongRecoveryCodes(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	ctx := context.Background()
	if err := s.SetOTP(ctx, "alice", totp([]byte("12345678901234567890")), []string{"abcde-fghjk"}, false); err != nil {
		t.Fatal(err)
	}
	lk := Lockout{After: 2, For: 0}
	const n = 8
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n + 1 {
		code := "zzzzz-zzzzz"
		if i == n {
			code = "abcde-fghjk" // the right one, in the same burst
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.UseRecoveryCode(ctx, "alice", code, t0, lk)
		}()
	}
	close(start)
	wg.Wait()
	rejected, locked := 0, 0
	for i, err := range errs[:n] {
		switch {
		case errors.Is(err, ErrRecoveryRejected):
			rejected++
		case errors.Is(err, ErrLocked):
			locked++
		default:
			t.Errorf("wrong code %d: %v", i, err)
		}
	}
	if rejected != lk.After || locked != n-lk.After {
		t.Errorf("rejected %d (want %d), refused as locked %d (want %d)", rejected, lk.After, locked, n-lk.After)
	}
	u := getUser(t, s, "alice")
	if !u.LockedByHand {
		t.Fatalf("not locked until an admin unlocks: %+v", u)
	}
	// The right code either got in before the lock or was refused and kept.
	switch err := errs[n]; {
	case err == nil:
		if u.RecoveryLeft != 0 {
			t.Errorf("right code accepted but RecoveryLeft = %d", u.RecoveryLeft)
		}
	case errors.Is(err, ErrLocked):
		if u.RecoveryLeft != 1 {
			t.Errorf("right code refused as locked but spent: RecoveryLeft = %d", u.RecoveryLeft)
		}
	default:
		t.Errorf("right code: %v", err)
	}
	if _, err := s.UseRecoveryCode(ctx, "nobody", "abcde-fghjk", t0, lk); !errors.Is(err, ErrNotFound) {
		t.Errorf("recovery code of a missing user: %v, want ErrNotFound", err)
	}
}
