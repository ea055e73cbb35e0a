// One code, many connections at once: exactly one login, in every round.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
	"bastion/kbdint"
	"bastion/store"
)

// widenedStore holds every OTP check open until all logins of a round are
// inside one, or 50ms passed: every login of a round reads the same replay
// state and checks the same code at the same time, so a ConsumeOTP whose
// write does not depend on what it read lets all of them pass, every round.
type widenedStore struct {
	*store.Store
	want   atomic.Int32 // logins per round
	inside atomic.Int32
	most   atomic.Int32 // most checks inside at once this round
}

func (w *widenedStore) ConsumeOTP(ctx context.Context, name string, now time.Time, lk store.Lockout, check func(store.OTP) (store.OTP, error)) (store.Failure, error) {
	return w.Store.ConsumeOTP(ctx, name, now, lk, func(o store.OTP) (store.OTP, error) {
		n := w.inside.Add(1)
		defer w.inside.Add(-1)
		for m := w.most.Load(); n > m && !w.most.CompareAndSwap(m, n); m = w.most.Load() {
		}
		for end := time.Now().Add(50 * time.Millisecond); w.most.Load() < w.want.Load() && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		return check(o)
	})
}

func TestConcurrentReplay(t *testing.T) {
	const n, rounds = 8, 6
	ws := &widenedStore{}
	// Admission is not under test: a round's 8 connections, plus the last
	// round's 7 refused ones the server may still be closing on a loaded
	// machine, must not meet the per-source cap (10).
	ts := newTestServerWith(t, func(c *config.Config) { c.Limits.PerSourceMax = 1000 },
		func(st *store.Store) kbdint.Store { ws.Store = st; return ws })
	ws.want.Store(n)
	key := newSigner(t)
	for r := range rounds {
		user := fmt.Sprintf("round%d", r)
		ts.addUserWithKeys(t, user, key)
		ws.most.Store(0)
		code := ts.code(0)
		// Start barrier: every client has passed publickey and Password
		// and waits at the code prompt; then all answer at once.
		var atPrompt sync.WaitGroup
		atPrompt.Add(n)
		start := make(chan struct{})
		var ok, failed atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kbd := func(_, _ string, qs []string, _ []bool) ([]string, error) {
					if len(qs) == 1 && qs[0] == kbdint.PromptPassword {
						return []string{password}, nil
					}
					if len(qs) == 1 && qs[0] == kbdint.PromptCode {
						atPrompt.Done()
						select {
						case <-start:
							return []string{code}, nil
						case <-time.After(30 * time.Second):
							return nil, errors.New("start barrier not released")
						}
					}
					return nil, nil
				}
				c, err := ts.dial(dialOpts{user: user, signers: []ssh.Signer{key}, kbd: kbd})
				if err != nil {
					failed.Add(1)
					return
				}
				ok.Add(1)
				c.Close()
			}()
		}
		waited := make(chan struct{})
		go func() { atPrompt.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: not all %d clients reached the code prompt within 30s", r, n)
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || failed.Load() != n-1 {
			t.Fatalf("round %d: %d of %d concurrent logins with one code succeeded, want exactly 1", r, ok.Load(), n)
		}
	}
}
