// Issue 9, finding 1: bytes from the network are not text. A non-UTF-8 user
// name, client version or jump host must not stop the audit log.
package tests

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// xclient is an x/crypto SSH client config for c, which can send what
// OpenSSH will not: any user name, any version string.
func (c *client) xclient(user, version string) *ssh.ClientConfig {
	c.w.t.Helper()
	pem, err := os.ReadFile(c.key)
	if err != nil {
		c.w.t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		c.w.t.Fatal(err)
	}
	code := ""
	return &ssh.ClientConfig{
		User:          user,
		ClientVersion: version,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer),
			ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
				var out []string
				for _, q := range qs {
					if strings.Contains(q, "Password") {
						out = append(out, c.password)
					} else {
						if code == "" {
							code = c.nextCode()
						}
						out = append(out, code)
					}
				}
				return out, nil
			})},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the test's own bastion on loopback
		Timeout:         20 * time.Second,
	}
}

func TestHostileStringsKeepTheAuditLog(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	ann := w.newClient("ann")
	ann.add("--group", "ops")
	ann.importTOTP()

	// Unauthenticated: refused early, before anything is written about them.
	for _, tc := range []struct{ user, version string }{
		{"x\xffy", ""},
		{"ann", "SSH-2.0-evil\xff"},
		{strings.Repeat("\x01", 1000), ""},
	} {
		if c, err := ssh.Dial("tcp", w.bastionAddr, ann.xclient(tc.user, tc.version)); err == nil {
			c.Close()
			t.Fatalf("login with user %.20q version %q succeeded", tc.user, tc.version)
		}
	}

	// Authenticated: a jump to a host that is not UTF-8, and a huge one.
	c, err := ssh.Dial("tcp", w.bastionAddr, ann.xclient("ann", ""))
	if err != nil {
		t.Fatalf("x/crypto login: %v\n%s", err, w.serverLog)
	}
	for _, host := range []string{"pve\xff", strings.Repeat("h\xfe", 20<<10)} {
		if nc, err := c.Dial("tcp", host+":22"); err == nil {
			nc.Close()
			t.Fatalf("jump to %.10q opened", host)
		} else if len(err.Error()) > 2048 {
			t.Fatalf("refusal of %d bytes echoed to the client", len(err.Error()))
		}
	}
	c.Close()

	// Real logins still work, verify passes, the server restarts.
	ann.answerGood()
	if out, err := ann.jump("pve1", "true"); err != nil {
		t.Fatalf("login after hostile input: %v\n%s\n%s", err, out, w.serverLog)
	}
	mustContain(t, "verify", w.mustCLI("", "audit", "verify"), "intact")
	w.stop()
	w.start()
	ann.answerGood()
	if out, err := ann.jump("pve1", "true"); err != nil {
		t.Fatalf("login after restart: %v\n%s", err, out)
	}
	w.stop()
	mustContain(t, "verify after restart", w.mustCLI("", "audit", "verify"), "intact")

	refused := w.auditRecords("--type", "jump.refused")
	if len(refused) != 2 || refused[0].Target != `pve\xff` || !strings.Contains(refused[1].Target, "…[cut ") {
		t.Fatalf("jump.refused records: %+v", refused)
	}
	data, err := os.ReadFile(filepath.Join(w.dir, "state", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `\ufffd`) || strings.Contains(string(data), "\x01\x01") {
		t.Fatal("an unclean string reached the audit log")
	}
}

// Issue 9, finding 2: 20 connections from 20 addresses, each asking for a
// 170 KiB user name of control bytes (then 20 asking for "root" with a key
// nobody has), add at most a few KiB each to the audit log.
func TestUnauthenticatedFloodBoundsTheAuditLog(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	ann := w.newClient("ann")
	log := filepath.Join(w.dir, "state", "audit.log")
	size := func() int64 {
		st, err := os.Stat(log)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	flood := func(user string) {
		t.Helper()
		for i := range 20 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}, Timeout: 20 * time.Second}
			nc, err := d.Dial("tcp", w.bastionAddr)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ann.xclient(user, "")
			if c, _, _, err := ssh.NewClientConn(nc, w.bastionAddr, cfg); err == nil {
				c.Close()
				t.Fatalf("login as %.10q succeeded", user)
			}
			nc.Close()
		}
	}

	before, logBefore := size(), w.serverLog.Len()
	flood(strings.Repeat("\x01", 170<<10))
	w.stop() // writes the last preauth.summary
	huge := size() - before
	t.Logf("170 KiB user names: %d audit bytes per connection (issue: ~2 MiB), %d server log bytes per connection",
		huge/20, (w.serverLog.Len()-logBefore)/20)
	if huge/20 > 2<<10 {
		t.Fatalf("each connection added %d bytes to the audit log", huge/20)
	}
	sums := w.auditRecords("--type", "preauth.summary")
	if len(sums) != 1 || sums[0].Fields["refused_user_name"] != "20" || sums[0].Fields["sources"] != "20" {
		t.Fatalf("preauth.summary records: %+v", sums)
	}

	w.start()
	before = size()
	flood("root")
	w.stop()
	root := size() - before
	t.Logf("unknown user with a key: %d audit bytes per connection", root/20)
	if root/20 > 4<<10 {
		t.Fatalf("each connection added %d bytes to the audit log", root/20)
	}
	mustContain(t, "verify", w.mustCLI("", "audit", "verify"), "intact")
}
