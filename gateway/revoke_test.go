package gateway

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
	"bastion/passwd"
	"bastion/store"
)

// revocations are the admin actions that must end a user's open connections.
var revocations = map[string]struct {
	do     func(*store.Store) error
	reason string
}{
	"del":       {func(s *store.Store) error { return s.DeleteUser(context.Background(), "alice") }, "user deleted"},
	"lock":      {func(s *store.Store) error { return s.Lock(context.Background(), "alice") }, "account locked"},
	"reset-otp": {func(s *store.Store) error { return s.ResetOTP(context.Background(), "alice", t0, "") }, "second factor reset"},
	"passwd": {func(s *store.Store) error {
		h, _ := passwd.Hash("another one", passwd.Params{MemoryKiB: 64, Time: 1, Threads: 1})
		return s.SetPassword(context.Background(), "alice", h)
	}, "credentials changed"},
}

// echoJump opens a jump to pve1 and checks bytes go through it.
func echoJump(t *testing.T, c *ssh.Client) io.ReadWriteCloser {
	t.Helper()
	j, err := c.Dial("tcp", "pve1:22")
	if err != nil {
		t.Fatalf("jump: %v", err)
	}
	j.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(j, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	return j
}

// waitClosed fails unless the client connection ends within d.
func waitClosed(t *testing.T, c *ssh.Client, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("connection still open after %s", d)
	}
}

// closeReason waits for the server's conn.close record and returns its reason.
func (ts *testServer) closeReason(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if evs := ts.audit.eventsOf("conn.close"); len(evs) > 0 {
			return evs[0]["reason"]
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
	t.Fatal("no conn.close record")
	return ""
}

// TestRevokedUserCannotJump: after del, lock, reset-otp or a password change,
// the user's open connection gets no new jump, and the refusal ends it, with
// the reason audited. The periodic check is off (1h) so that the per-channel
// check alone is under test.
func TestRevokedUserCannotJump(t *testing.T) {
	for name, r := range revocations {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, func(c *config.Config) { c.Session.RecheckInterval = time.Hour })
			c, err := ts.login("alice", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echoJump(t, c).Close()
			dialsBefore := ts.dials.Load()
			if err := r.do(ts.store); err != nil {
				t.Fatal(err)
			}
			_, err = c.Dial("tcp", "pve1:22")
			if err == nil || !strings.Contains(err.Error(), "access revoked: "+r.reason) {
				t.Fatalf("jump after %s: err=%v", name, err)
			}
			waitClosed(t, c, 10*time.Second)
			if got := ts.closeReason(t); got != "access revoked: "+r.reason {
				t.Errorf("conn.close reason %q", got)
			}
			if ts.dials.Load() != dialsBefore {
				t.Error("the backend was dialed for a revoked user")
			}
			if evs := ts.audit.eventsOf("channel.refused"); len(evs) != 1 || evs[0]["channel"] != "direct-tcpip" {
				t.Errorf("channel.refused records: %v", evs)
			}
		})
	}
}

// TestRevocationEndsOpenConnection: with no new channel at all, the periodic
// check (here every 20ms) ends a revoked user's connection and its open jump.
func TestRevocationEndsOpenConnection(t *testing.T) {
	for name, r := range revocations {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, func(c *config.Config) { c.Session.RecheckInterval = 20 * time.Millisecond })
			c, err := ts.login("alice", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			bob, err := ts.login("bob", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			j := echoJump(t, c)
			if err := r.do(ts.store); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, c, 10*time.Second)
			if _, err := j.Read(make([]byte, 1)); err == nil {
				t.Error("the open jump still reads")
			}
			if got := ts.closeReason(t); got != "access revoked: "+r.reason {
				t.Errorf("conn.close reason %q", got)
			}
			echoJump(t, bob).Close() // others keep their connections
		})
	}
}

// TestStoreDownRefusesChannelsKeepsConnection: when the state cannot be read,
// new channels are refused (deny by default) but no connection is ended,
// neither by the channel check nor by the periodic one.
func TestStoreDownRefusesChannelsKeepsConnection(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Session.RecheckInterval = time.Hour })
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j := echoJump(t, c)
	ts.store.Close()
	if _, err := c.Dial("tcp", "pve1:22"); err == nil || !strings.Contains(err.Error(), "cannot be checked right now") {
		t.Fatalf("jump with the state down: %v", err)
	}
	ts.srv.recheckAll(context.Background())
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("connection ended while the state was down: %v", err)
	}
	j.Write([]byte("pong"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(j, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("open jump after the failed checks: %q %v", buf, err)
	}
	if evs := ts.audit.eventsOf("channel.refused"); len(evs) != 1 || !strings.HasPrefix(evs[0]["reason"], "account check failed") {
		t.Errorf("channel.refused records: %v", evs)
	}
}
