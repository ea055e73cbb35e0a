// The replay guard under a forced race: every check of a round runs on the
// same state before any write, so only the conditional write decides.
package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bastion/oath"
)

func TestConsumeOTPOverlappingChecks(t *testing.T) { each(t, testConsumeOTPOverlappingChecks) }

func testConsumeOTPOverlappingChecks(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	o := totp([]byte("12345678901234567890"))
	if err := s.SetOTP(context.Background(), "alice", o, nil, false); err != nil {
		t.Fatal(err)
	}
	const n = 4
	var inside atomic.Int32
	check := func(cur OTP) (OTP, error) {
		if cur.LastStep >= 5 {
			return cur, oath.ErrReplayed
		}
		// Hold the check until all n are inside, or 2s passed (a store
		// that serializes checks lets only one in at a time).
		inside.Add(1)
		for end := time.Now().Add(2 * time.Second); inside.Load() < n && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		cur.LastStep = 5
		return cur, nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = consume(s, "alice", check)
		}()
	}
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
		t.Fatalf("%d of %d overlapping checks of one code consumed it, want exactly 1", ok, n)
	}
}

// A lock that ends this very second is over: the next failure is counted as
// a plain failure, not reported as a lock.
func TestFailureAtTheEndOfALock(t *testing.T) { each(t, testFailureAtTheEndOfALock) }

func testFailureAtTheEndOfALock(t *testing.T, b backend) {
	s := b.store(t)
	addUser(t, s, "alice")
	ctx := context.Background()
	f, err := s.RecordFailure(ctx, "alice", t0, Lockout{After: 1, For: 10 * time.Second})
	if err != nil || !f.Locked || !f.Until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("first failure with lockout_after 1: %+v, %v", f, err)
	}
	if _, err := s.RecordFailure(ctx, "alice", t0.Add(9*time.Second), Lockout{After: 3, For: 10 * time.Second}); !errors.Is(err, ErrLocked) {
		t.Fatalf("failure during the lock: %v, want ErrLocked", err)
	}
	f, err = s.RecordFailure(ctx, "alice", t0.Add(10*time.Second), Lockout{After: 3, For: 10 * time.Second})
	if err != nil || !f.Counted || f.Locked {
		t.Fatalf("failure as the lock ends: %+v, %v; want counted, not locked", f, err)
	}
}
