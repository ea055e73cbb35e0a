package gateway

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// TestKeylessClientsPenalised: clients that never try publickey count as
// failed logins for the source's penalty, and each failure is audited with
// the methods it tried. x/crypto's client sends only "none" when the server
// offers publickey alone; tests/TestKeylessScannerPenalised sends password
// and keyboard-interactive with paramiko.
func TestKeylessClientsPenalised(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.PenaltyFreeFails = 3
		c.Limits.PenaltyBase = 10 * time.Minute
	})
	keyless := []ssh.AuthMethod{
		ssh.Password("hunter2"),
		ssh.KeyboardInteractive(answers([]string{"hunter2"})),
		nil, // "none" only
	}
	for _, m := range keyless {
		cc := &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
		if m != nil {
			cc.Auth = []ssh.AuthMethod{m}
		}
		if c, err := ssh.Dial("tcp", ts.addr, cc); err == nil {
			c.Close()
			t.Fatal("a keyless client logged in")
		}
	}
	// The fourth keyless failure sets the penalty as the server's side ends.
	ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.Password("x")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	for end := time.Now().Add(10 * time.Second); ts.srv.limiter.Load().Penalised() == 0; {
		if time.Now().After(end) {
			t.Fatal("no penalty after 4 keyless failures")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(raw)
	raw.Close()
	if len(b) != 0 || err != nil {
		t.Fatalf("penalised source got %q, %v; want the connection closed at once", b, err)
	}
	denied := ts.audit.eventsOf("conn.denied")
	if len(denied) != 4 {
		t.Fatalf("%d conn.denied records, want 4: %v", len(denied), denied)
	}
	for i := range denied {
		if r := denied[i]["reason"]; r != "no publickey tried (tried none)" {
			t.Errorf("conn.denied %d reason %q", i, r)
		}
	}
	if ts.audit.count("source.penalty", "fail") != 1 {
		t.Error("the penalty was not audited")
	}
	if ts.audit.count("conn.accept", "") != 0 {
		t.Error("conn.accept written for keyless clients")
	}
}

// TestLogAuthMethodNames: the methods recorded are a fixed set; a client's
// own method name is never recorded, and the second factor is not counted here.
func TestLogAuthMethodNames(t *testing.T) {
	f := &authFlow{}
	meta := fakeMeta{user: "alice"}
	for _, m := range []string{"none", "password", "keyboard-interactive", "password", "x\xff\x1b[2J", "gssapi-with-mic"} {
		f.logAuth(meta, m, errors.New("no"))
	}
	f.logAuth(meta, "publickey", errors.New("no"))
	if got := f.noKeyReason(); got != "no publickey tried (tried none,password,keyboard-interactive,other)" {
		t.Fatalf("reason %q", got)
	}
	f.keyed = true
	f.logAuth(meta, "keyboard-interactive", errors.New("wrong code"))
	if f.noKeyReason() != "" || len(f.otherMethods) != 4 {
		t.Fatalf("after the key: %q %v", f.noKeyReason(), f.otherMethods)
	}
}

// fakeMeta is the ConnMetadata logAuth reads.
type fakeMeta struct {
	ssh.ConnMetadata
	user string
}

func (m fakeMeta) User() string { return m.user }
