// What clients that never prove a key can make the audit log write is
// bounded per source; the rest is counted for the summary.
package gateway

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

func TestPreauthRecordsBoundedPerSource(t *testing.T) {
	ts := newTestServer(t, nil)
	const n = 40
	for range n {
		if c, err := ts.dial(dialOpts{user: "mallory", signers: []ssh.Signer{newSigner(t)}}); err == nil {
			c.Close()
			t.Fatal("an unknown key logged in")
		}
	}
	// Each connection's last record is written as the server closes it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.srv.mu.Lock()
		open := len(ts.srv.conns)
		ts.srv.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 10s after the last client left", open)
		}
	}
	denials := ts.audit.count("conn.denied", "")
	if denials == 0 {
		t.Fatal("no conn.denied record at all")
	}
	if denials >= n {
		t.Fatalf("%d failed connections from one source wrote %d conn.denied records: not bounded", n, denials)
	}
}

// Every connection that reaches authentication is recorded once as
// conn.accept with its client version, before the login's records.
func TestConnAcceptRecordedOnce(t *testing.T) {
	ts := newTestServer(t, nil)
	for i, signers := range [][]ssh.Signer{{ts.keys["alice"]}, {newSigner(t), ts.keys["alice"]}} {
		before := len(ts.audit.eventsOf("conn.accept"))
		c, err := ts.dial(dialOpts{user: "alice", signers: signers, kbd: answers([]string{password}, []string{ts.code(int64(i))})})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		accepts := ts.audit.eventsOf("conn.accept")[before:]
		if len(accepts) != 1 || !strings.HasPrefix(accepts[0]["client_version"], "SSH-2.0-Go") {
			t.Fatalf("%d keys offered: conn.accept records %v, want one with the client version", len(signers), accepts)
		}
	}
}

// A connection that never tries to authenticate (a port scanner: version
// line, then gone) is neither audited as a failed login nor penalised.
func TestScannerIsNoFailedLogin(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Limits.PenaltyFreeFails = 0 })
	for range 3 {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(nc, "SSH-2.0-scanner\r\n")
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(nc).ReadString('\n'); err != nil {
			t.Fatalf("no banner: %v", err)
		}
		nc.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.srv.mu.Lock()
		open := len(ts.srv.conns)
		ts.srv.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 10s after the scanner left", open)
		}
	}
	if n := ts.audit.count("conn.denied", ""); n != 0 {
		t.Fatalf("%d conn.denied records for connections that never tried to log in", n)
	}
	if n := ts.srv.limiter.Load().Penalised(); n != 0 {
		t.Fatalf("the scanner's source is penalised (%d)", n)
	}
	// The same source still logs in.
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatalf("login after the scan: %v", err)
	}
	c.Close()
}
