// Fault tests: a black-holed backend and a half-open client.
package gateway

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// blackHole returns a loopback address whose accept queue is full, so the
// kernel drops further SYNs: a connect there hangs, like a dead host.
func blackHole(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue; these are never accepted.
	for i := 0; i < 4; i++ {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if c, err := d.Dial("tcp", addr); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// Issue 5 #9: a black-holed backend gives a clear error within the dial timeout.
func TestBlackHoledBackend(t *testing.T) {
	hole := blackHole(t)
	ts := newTestServer(t, func(c *config.Config) {
		c.Upstream.DialTimeout = 700 * time.Millisecond
		c.Targets = append(c.Targets, config.Target{Name: "hole", Address: hole, Groups: []string{"ops"}})
	})
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Dial("tcp", "hole:22")
	took := time.Since(start)
	oce := new(ssh.OpenChannelError)
	if !errors.As(err, &oce) || oce.Reason != ssh.ConnectionFailed || !strings.Contains(oce.Message, "i/o timeout") || !strings.Contains(oce.Message, "hole") {
		t.Fatalf("jump to a black hole: %v", err)
	}
	if took < 600*time.Millisecond || took > 3*time.Second {
		t.Fatalf("the dial took %v, want about the 700ms dial timeout", took)
	}
	if ts.audit.count("jump.failed", "fail") != 1 {
		t.Fatal("the failed jump was not audited")
	}
	// The connection is still usable.
	if _, err := c.Dial("tcp", "pve1:22"); err != nil {
		t.Fatalf("jump after the black hole: %v", err)
	}
}

// freezer forwards TCP between a client and the server until frozen; then it
// keeps both sockets open but moves no byte: a half-open peer.
type freezer struct {
	ln      net.Listener
	mu      sync.Mutex
	frozen  bool
	toLocal atomic.Int64 // reads from the server side forwarded to the client
}

func newFreezer(t *testing.T, upstream string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			t.Cleanup(func() { down.Close(); up.Close() })
			go f.copy(up, down, nil)
			go f.copy(down, up, &f.toLocal)
		}
	}()
	return f
}

func (f *freezer) copy(dst, src net.Conn, reads *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if frozen {
			continue // swallow: the peer looks alive at TCP level but silent
		}
		if n > 0 {
			dst.Write(buf[:n])
			if reads != nil {
				reads.Add(1)
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.mu.Lock(); f.frozen = true; f.mu.Unlock() }

// Issue 5 #10: a half-open client is torn down within the keepalive bound,
// and the close is audited with the reason.
func TestHalfOpenClient(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Session.KeepaliveInterval = 200 * time.Millisecond
		c.Session.KeepaliveCountMax = 2
	})
	fz := newFreezer(t, ts.addr)
	cc := &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(ts.keys["alice"]), ssh.KeyboardInteractive(answers([]string{password}, []string{ts.code(0)}))}}
	c, err := ssh.Dial("tcp", fz.ln.Addr().String(), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	jump, err := c.Dial("tcp", "pve1:22")
	if err != nil {
		t.Fatal(err)
	}
	defer jump.Close()
	// Keepalives answered: still open after several rounds, more than
	// count_max unanswered ones would allow. Each round is a packet from
	// the server to the client; the idle jump sends nothing else.
	base := fz.toLocal.Load()
	for deadline := time.Now().Add(10 * time.Second); fz.toLocal.Load() < base+6; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d keepalive packets in 10s, want 6", fz.toLocal.Load()-base)
		}
	}
	if ts.audit.count("conn.close", "") != 0 {
		t.Fatal("a live client was disconnected")
	}
	fz.freeze()
	start := time.Now()
	for ts.audit.count("conn.close", "") == 0 && time.Since(start) < 5*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	// Bound: interval × (count_max + 1) = 600ms, plus scheduling slack.
	if took > 2*time.Second {
		t.Fatalf("half-open client torn down after %v, want within about 600ms", took)
	}
	ts.audit.mu.Lock()
	defer ts.audit.mu.Unlock()
	reasons := map[string]string{}
	for _, e := range ts.audit.events {
		reasons[e.Type] = e.Fields["reason"]
	}
	if !strings.Contains(reasons["conn.close"], "keepalive timeout") || !strings.Contains(reasons["jump.close"], "keepalive timeout") {
		t.Fatalf("close reasons: %v", reasons)
	}
	t.Logf("half-open client torn down after %v", took)
}

// A panic in one connection's channel closes that connection only.
func TestPanicClosesOnlyThatConnection(t *testing.T) {
	ts := newTestServer(t, nil)
	testChannelHook = func(user string) {
		if user == "bob" {
			panic("injected")
		}
	}
	defer func() { testChannelHook = nil }()
	alice, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, err := ts.login("bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Dial("tcp", "pve1:22"); err == nil {
		t.Fatal("bob's jump survived the panic")
	}
	closed := make(chan struct{})
	go func() { bob.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("bob's connection stayed open after the panic")
	}
	// alice and new logins are unaffected.
	if _, err := alice.Dial("tcp", "pve1:22"); err != nil {
		t.Fatalf("alice's jump after bob's panic: %v", err)
	}
	c, err := ts.login("alice", 1)
	if err != nil {
		t.Fatalf("new login after a panic: %v", err)
	}
	c.Close()
	if n := ts.audit.count("conn.close", ""); n < 1 {
		t.Fatal("bob's close was not recorded")
	}
}

// Issue 5: a per-user cap on concurrent jumps, refused with a reason.
func TestJumpsPerUserCap(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Session.MaxJumpsPerUser = 2 })
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j1, err := c.Dial("tcp", "pve1:22")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial("tcp", "pve1:22"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Dial("tcp", "pve1:22")
	oce := new(ssh.OpenChannelError)
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || !strings.Contains(oce.Message, "too many open jumps") {
		t.Fatalf("third jump: %v", err)
	}
	j1.Close()
	for end := time.Now().Add(3 * time.Second); ; {
		j, err := c.Dial("tcp", "pve1:22")
		if err == nil {
			j.Close()
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no jump after closing one: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
