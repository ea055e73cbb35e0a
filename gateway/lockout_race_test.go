// Issue 9 #3 through the real protocol: connections parked at the
// `Verification code:` prompt before a lock cannot outguess it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// parkedAtCode answers the password, then waits at the code prompt for gate.
func parkedAtCode(code string, atCode *sync.WaitGroup, gate <-chan struct{}) ssh.KeyboardInteractiveChallenge {
	round := 0
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		round++
		switch round {
		case 1:
			return []string{password}, nil
		case 2:
			atCode.Done()
			<-gate
			return []string{code}, nil
		}
		return nil, errors.New("no more answers")
	}
}

func waitGroupDone(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestLockoutRaceParkedConnections(t *testing.T) {
	const after, parked = 3, 9
	ts := newTestServer(t, func(c *config.Config) {
		c.Auth.LockoutAfter = after
		c.Auth.LockoutTime = 5 * time.Minute
		c.Limits.PerSourceMax = 2 * parked
		c.Limits.MaxStartups = "40:30:100"
	})
	right := ts.code(0)
	valid := map[string]bool{ts.code(-1): true, right: true, ts.code(1): true}
	var wrong []string
	for i := 0; len(wrong) < parked; i++ {
		if c := fmt.Sprintf("%06d", 111111*(i%10)+i/10); !valid[c] {
			wrong = append(wrong, c)
		}
	}

	var atCode, finished sync.WaitGroup
	release, releaseRight := make(chan struct{}), make(chan struct{})
	results := make([]error, parked+1)
	atCode.Add(parked + 1)
	finished.Add(parked)
	dial := func(i int, code string, gate <-chan struct{}) {
		c, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{ts.keys["alice"]}, kbd: parkedAtCode(code, &atCode, gate)})
		if err == nil {
			c.Close()
		}
		results[i] = err
	}
	for i, code := range wrong {
		go func() { defer finished.Done(); dial(i, code, release) }()
	}
	rightDone := make(chan struct{})
	go func() { defer close(rightDone); dial(parked, right, releaseRight) }()

	waitGroupDone(t, &atCode, "every connection to reach the code prompt")
	close(release) // all nine wrong codes at once
	waitGroupDone(t, &finished, "the wrong codes to be answered")
	close(releaseRight) // a right code on a connection parked before the lock
	select {
	case <-rightDone:
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the right code's answer")
	}

	for i, err := range results {
		if err == nil {
			t.Errorf("connection %d logged in", i)
		}
	}
	if n := ts.audit.count("auth.otp", ""); n != after {
		t.Errorf("%d code checks, want exactly lockout_after = %d", n, after)
	}
	if n := ts.audit.count("lockout", "fail"); n != 1 {
		t.Errorf("%d lockout events, want 1", n)
	}
	if n := ts.audit.count("login.success", ""); n != 0 {
		t.Errorf("%d logins succeeded during the lock", n)
	}
	u, err := ts.store.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Locked(t0) || !u.LockedUntil.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("locked=%v until %v, want locked until %v", u.Locked(t0), u.LockedUntil, t0.Add(5*time.Minute))
	}
	if u.OTP.LastStep != 0 {
		t.Errorf("the right code typed during the lock was consumed (LastStep %d)", u.OTP.LastStep)
	}
	// A fresh login with both factors right is refused too: the lock holds.
	if c, err := ts.login("alice", 0); err == nil {
		c.Close()
		t.Error("a fresh login with the right code got in during the lock")
	}
}
