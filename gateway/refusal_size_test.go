package gateway

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestHugeJumpHostRefusalFits: a jump to a 70 KB host name is refused with a
// message far below the smallest packet every client must take (RFC 4253
// §6.1: 32768 bytes), and the connection stays usable.
func TestHugeJumpHostRefusalFits(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Dial("tcp", strings.Repeat("\xffa", 35000)+":22")
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
		t.Fatalf("huge host: %v, want a refusal", err)
	}
	if n := len(oce.Message); n > 2048 {
		t.Fatalf("refusal message of %d bytes", n)
	}
	if !strings.Contains(oce.Message, "no target") {
		t.Errorf("refusal message %q", oce.Message)
	}
	echoJump(t, c).Close()
}
