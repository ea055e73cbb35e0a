package gateway

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

func TestIsModernOpenSSH(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", true},
		{"SSH-2.0-OpenSSH_10.0", true},
		{"SSH-2.0-OpenSSH_6.2", true},
		{"SSH-2.0-OpenSSH_for_Windows_8.1", true},
		{"SSH-2.0-OpenSSH_6.1p1", false},
		{"SSH-2.0-OpenSSH_5.3", false},
		{"SSH-2.0-OpenSSH_6", false},
		{"SSH-2.0-OpenSSH_", false},
		{"SSH-2.0-OpenSSH_x", false},
		{"SSH-2.0-paramiko_2.12.0", false},
		{"SSH-2.0-AsyncSSH_2.10.1", false},
		{"SSH-2.0-PuTTY_Release_0.78", false},
		{"SSH-2.0-Go", false},
		{"SSH-1.99-OpenSSH_9.2", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isModernOpenSSH(tt.line); got != tt.want {
			t.Errorf("isModernOpenSSH(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
	c := config.Default().SSH
	if got := ciphersFor("SSH-2.0-OpenSSH_9.2p1", c); !slicesEqual(got, []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM}) {
		t.Errorf("OpenSSH offer %v, want AES-GCM only", got)
	}
	if got := ciphersFor("SSH-2.0-paramiko_2.12.0", c); !strings.Contains(strings.Join(got, ","), ssh.CipherAES128CTR) {
		t.Errorf("paramiko offer %v lacks aes128-ctr", got)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestPeekVersionReplays(t *testing.T) {
	tests := []struct {
		name, send, line string
	}{
		{"line and kex in one write", "SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00\x01\x0ckexinit...", "SSH-2.0-OpenSSH_9.2p1"},
		{"bare LF", "SSH-2.0-paramiko_2.12.0\nrest", "SSH-2.0-paramiko_2.12.0"},
		{"no newline within 255 bytes", strings.Repeat("A", 300), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			go func() { io.WriteString(client, tt.send); client.Close() }()
			grace := time.Now().Add(10 * time.Second)
			line, rc, err := peekVersion(server, 5*time.Second, grace)
			if err != nil {
				t.Fatal(err)
			}
			if line != tt.line {
				t.Errorf("line %q, want %q", line, tt.line)
			}
			all, err := io.ReadAll(rc)
			if err != nil || string(all) != tt.send {
				t.Errorf("replayed %q (err %v), want %q", all, err, tt.send)
			}
		})
	}
}

// A client that waits for the server's line first gets it once the wait ran
// out, and then the full cipher list.
func TestClientThatWaitsGetsFullList(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.SSH.ClientVersionWait = 300 * time.Millisecond })
	start := time.Now()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("server line %q: %v", line, err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("server spoke after %v, before the version wait", waited)
	}
	// Hand the line (and anything buffered) back to the x/crypto client,
	// which speaks OpenSSH's name but only chacha20: the fallback list has it.
	rest, _ := br.Peek(br.Buffered())
	rc := &replayConn{Conn: nc, pending: append([]byte(line), rest...)}
	cc := &ssh.ClientConfig{User: "alice", ClientVersion: "SSH-2.0-OpenSSH_9.2p1", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config: ssh.Config{Ciphers: []string{ssh.CipherChaCha20Poly1305}},
		Auth:   []ssh.AuthMethod{ssh.PublicKeys(ts.keys["alice"]), ssh.KeyboardInteractive(answers([]string{password}, []string{ts.code(0)}))}}
	c, chans, reqs, err := ssh.NewClientConn(rc, ts.addr, cc)
	if err != nil {
		t.Fatalf("chacha20 client that waited: %v", err)
	}
	ssh.NewClient(c, chans, reqs).Close()
}

// The offer follows the client's line: OpenSSH gets AES-GCM only, others
// (paramiko before 3.5 has no AES-GCM) the full list.
func TestCipherOfferByClient(t *testing.T) {
	ts := newTestServer(t, nil)
	dial := func(version, cipher string, step int64) error {
		cc := &ssh.ClientConfig{User: "alice", ClientVersion: version, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
			Config: ssh.Config{Ciphers: []string{cipher}},
			Auth:   []ssh.AuthMethod{ssh.PublicKeys(ts.keys["alice"]), ssh.KeyboardInteractive(answers([]string{password}, []string{ts.code(step)}))}}
		c, err := ssh.Dial("tcp", ts.addr, cc)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("SSH-2.0-paramiko_2.12.0", ssh.CipherAES128CTR, -1); err != nil {
		t.Errorf("paramiko-like client with aes128-ctr: %v", err)
	}
	if err := dial("SSH-2.0-Go", ssh.CipherChaCha20Poly1305, 0); err != nil {
		t.Errorf("Go client with chacha20: %v", err)
	}
	if err := dial("SSH-2.0-OpenSSH_9.2p1", ssh.CipherAES256GCM, 1); err != nil {
		t.Errorf("OpenSSH client with aes256-gcm: %v", err)
	}
	err := dial("SSH-2.0-OpenSSH_9.2p1", ssh.CipherChaCha20Poly1305, 2)
	if err == nil || !strings.Contains(err.Error(), "no common algorithm") {
		t.Errorf("OpenSSH client offering only chacha20: %v, want no common algorithm", err)
	}
}

func FuzzPeekVersion(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\nkex"))
	f.Add([]byte("SSH-2.0-x\n"))
	f.Add(bytes.Repeat([]byte("A"), 300))
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		defer server.Close()
		go func() { client.Write(data); client.Close() }()
		line, rc, err := peekVersion(server, 2*time.Second, time.Time{})
		if err != nil && len(data) > 0 && bytes.IndexByte(data, '\n') >= 0 && bytes.IndexByte(data, '\n') < maxVersionLine {
			t.Fatalf("error %v with a complete line in %q", err, data)
		}
		if err != nil {
			return
		}
		if len(line) >= maxVersionLine || strings.ContainsRune(line, '\n') {
			t.Fatalf("line %q", line)
		}
		isModernOpenSSH(line)
		got, _ := io.ReadAll(rc)
		if !bytes.Equal(got, data) {
			t.Fatalf("replayed %q, want %q", got, data)
		}
	})
}

// writesGCM, which switches on sockio's packet merge, is true exactly for
// the AES-GCM ciphers the server writes with.
func TestWritesGCM(t *testing.T) {
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	for cipher, want := range map[string]bool{
		ssh.CipherAES128GCM: true, ssh.CipherAES256GCM: true,
		ssh.CipherChaCha20Poly1305: false, ssh.CipherAES128CTR: false,
	} {
		client, server := tcpPair(t)
		scfg := &ssh.ServerConfig{NoClientAuth: true} // transport only: no users here
		scfg.AddHostKey(signer)
		got := make(chan bool, 1)
		go func() {
			sconn, _, _, err := ssh.NewServerConn(server, scfg)
			if err != nil {
				got <- !want // a failed handshake fails the check below
				return
			}
			got <- writesGCM(sconn)
			sconn.Close()
		}()
		cc := &ssh.ClientConfig{User: "t", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Config: ssh.Config{Ciphers: []string{cipher}}}
		if c, _, _, err := ssh.NewClientConn(client, "t", cc); err == nil {
			defer c.Close()
		}
		if g := <-got; g != want {
			t.Errorf("%s: writesGCM %v, want %v", cipher, g, want)
		}
	}
}
