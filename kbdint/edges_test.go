// Edges of the code check: answers at the length bound, a lock that comes
// while the user types.
package kbdint_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"bastion/kbdint"
)

// An account locked by an administrator while the user types the code is
// refused as locked, for any answer up to the length bound: the lock is
// checked with the code, in the store.
func TestLockedWhileTypingTheCode(t *testing.T) {
	e := newEnv(t)
	for i, code := range []string{"", strings.Repeat("1", 1024)} {
		name := []string{"alice", "bob"}[i]
		e.addTOTPUser(name)
		if code == "" {
			code = e.code()
		}
		round := 0
		challenge := func(_, _ string, qs []string, _ []bool) ([]string, error) {
			round++
			if round == 1 {
				return []string{password}, nil
			}
			if err := e.st.Lock(context.Background(), name); err != nil {
				t.Fatal(err)
			}
			return []string{code}, nil
		}
		r := newRecorder(name)
		_, err := e.v.Login(context.Background(), r.attempt, challenge)
		if !errors.Is(err, kbdint.ErrLocked) {
			t.Fatalf("%d-byte answer after an admin lock: %v, want ErrLocked", len(code), err)
		}
		if !slices.ContainsFunc(r.notes, func(n string) bool { return strings.Contains(n, "Contact an administrator") }) {
			t.Fatalf("%d-byte answer after an admin lock: told %q, want the locked message", len(code), r.notes)
		}
	}
}

// Wrong passwords (no code checked) lock the account like wrong codes: the
// failure that reaches lockout_after is audited with the lock.
func TestWrongPasswordsLock(t *testing.T) {
	e := newEnv(t)
	e.addTOTPUser("alice")
	for i := 1; i <= e.pol.LockoutAfter; i++ {
		_, r, err := e.login("alice", login("wrong password", e.code()))
		if !errors.Is(err, kbdint.ErrDenied) || strings.Contains(err.Error(), "record failure") {
			t.Fatalf("wrong password %d: %v, want a plain ErrDenied", i, err)
		}
		locked := slices.Contains(r.types(), "lockout")
		if locked != (i == e.pol.LockoutAfter) {
			t.Fatalf("wrong password %d of %d: audit %v", i, e.pol.LockoutAfter, r.types())
		}
	}
	if !e.user("alice").Locked(e.now) {
		t.Fatal("alice not locked after lockout_after wrong passwords")
	}
}
