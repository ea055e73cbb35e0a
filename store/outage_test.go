// PostgreSQL trouble: a database that is down or hung gives ErrUnavailable
// within the deadline, the pool stays bounded, and the store heals by itself.
package store

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestPostgresOutageAndHang(t *testing.T) {
	c := cluster(t)
	p := postgresBackend.newPaths(t)
	ctx := context.Background()
	s, err := OpenWith(ctx, Options{State: p.state, Key: p.key, PasswordFile: p.pass, MaxConns: 3, QueryTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addUser(t, s, "alice")
	goroutines := runtime.NumGoroutine()

	burst := func(what string) {
		t.Helper()
		errs := make(chan error, 10)
		start := time.Now()
		for range 10 {
			go func() { _, err := s.User(ctx, "alice"); errs <- err }()
		}
		for range 10 {
			if err := <-errs; !errors.Is(err, ErrUnavailable) {
				t.Errorf("%s: User = %v, want ErrUnavailable", what, err)
			}
		}
		// Three waves of the 0.5 s deadline at most: the pool holds 3, the rest queue.
		t.Logf("%s: 10 lookups refused in %v", what, time.Since(start).Round(time.Millisecond))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: 10 lookups took %v, want each bounded by the deadline", what, d)
		}
		if n := s.db.Stats().OpenConnections; n > 3 {
			t.Errorf("%s: %d connections open, pool bound is 3", what, n)
		}
	}

	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	burst("database hung")
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	burst("database down")
	if _, err := s.ConsumeOTP(ctx, "alice", t0, Lockout{After: 3}, func(o OTP) (OTP, error) { return o, nil }); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ConsumeOTP with the database down: %v, want ErrUnavailable", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s)
	if err := s.SetPassword(ctx, "alice", "new"); err != nil {
		t.Errorf("a write after the database came back: %v", err)
	}
	// Nothing leaked across the outage: connections within the pool bound,
	// goroutines back to where they were (give the pool's closers a moment).
	if n := s.db.Stats().OpenConnections; n > 3 {
		t.Errorf("%d connections open after the outage, pool bound is 3", n)
	}
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines+2; {
		if time.Now().After(deadline) {
			t.Errorf("goroutines: %d before the outage, %d after", goroutines, runtime.NumGoroutine())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHealthy polls until the store answers again, without reopening it.
func waitHealthy(t *testing.T, s *Store) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		_, err := s.User(context.Background(), "alice")
		if err == nil {
			t.Logf("healed %v after the database came back", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not heal within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
