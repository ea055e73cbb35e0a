// Reading the client's identification string before the key exchange, so
// the cipher offer can depend on which client it is.
package gateway

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// maxVersionLine bounds the peek: RFC 4253 §4.2 allows 255 bytes including CR LF.
const maxVersionLine = 255

// replayConn is a net.Conn whose first reads return bytes already read
// from it (the peeked identification string), then read on from the socket.
// x/crypto's NewServerConn reads the version itself, so it must see them again.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// peekVersion reads the client's identification line (clients send it
// without waiting for ours, RFC 4253 §4.2) for at most wait, and no later
// than deadline. It returns the line (without CR LF; empty if none arrived
// complete in time) and a conn that replays every byte read. A read error
// other than the wait running out is returned; the caller closes the conn.
// The read deadline is set back to deadline before returning.
func peekVersion(nc net.Conn, wait time.Duration, deadline time.Time) (line string, rc net.Conn, err error) {
	rc = nc
	if wait <= 0 {
		return "", rc, nil
	}
	until := time.Now().Add(wait)
	if !deadline.IsZero() && deadline.Before(until) {
		until = deadline
	}
	nc.SetReadDeadline(until)
	defer nc.SetReadDeadline(deadline)
	buf := make([]byte, 0, maxVersionLine)
	for len(buf) < maxVersionLine {
		n, rerr := nc.Read(buf[len(buf):maxVersionLine])
		buf = buf[:len(buf)+n]
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line = strings.TrimSuffix(string(buf[:i]), "\r")
			break
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				break // a client that waits for our line: replay what came
			}
			return "", rc, rerr
		}
	}
	if len(buf) > 0 {
		rc = &replayConn{Conn: nc, pending: buf}
	}
	return line, rc, nil
}

// isModernOpenSSH reports whether an identification line comes from
// OpenSSH 6.2 or later, the first release with AES-GCM.
func isModernOpenSSH(line string) bool {
	rest, ok := strings.CutPrefix(line, "SSH-2.0-OpenSSH_")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "for_Windows_")
	major, rest, ok := leadingNumber(rest)
	if !ok {
		return false
	}
	if major != 6 {
		return major > 6
	}
	if rest, ok = strings.CutPrefix(rest, "."); !ok {
		return false
	}
	minor, _, ok := leadingNumber(rest)
	return ok && minor >= 2
}

// leadingNumber splits s into its leading decimal number (at most 4 digits) and the rest.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && i < 4 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, s[i:], err == nil
}

// ciphersFor chooses the cipher offer for a client by its identification
// line. OpenSSH clients take the first cipher of their own list that the
// server offers (chacha20-poly1305, then aes-ctr, then aes-gcm), and x/crypto
// runs chacha20 and CTR+HMAC several times slower than AES-GCM, so they are
// offered AES-GCM only; every other client (paramiko before 3.5 has no
// AES-GCM) gets the full list. See docs/decisions.md.
func ciphersFor(line string, c config.SSH) []string {
	if isModernOpenSSH(line) {
		return c.CiphersOpenSSH
	}
	return c.Ciphers
}

// negotiatedCipher is the cipher the client sends with, for the log.
func negotiatedCipher(c *ssh.ServerConn) string {
	if a, ok := c.Conn.(ssh.AlgorithmsConnMetadata); ok {
		return a.Algorithms().Read.Cipher
	}
	return ""
}

// writesGCM reports whether the server's packets on c are AES-GCM, the
// condition for sockio's MergeSplitWrites.
func writesGCM(c *ssh.ServerConn) bool {
	a, ok := c.Conn.(ssh.AlgorithmsConnMetadata)
	return ok && strings.HasSuffix(a.Algorithms().Write.Cipher, "-gcm@openssh.com")
}
