package gateway

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"bastion/config"
	"bastion/sockio"
)

// A download through a real jump (x/crypto client, in-process bastion): every
// byte arrives in order with a client that reads slowly, in small pieces
// (its window fills and the bastion waits on it), and an idle jump holds no
// pooled buffer afterwards.
func TestJumpDownloadSlowReaderAndIdleBuffers(t *testing.T) {
	src, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const size = 6<<20 + 12345 // several channel windows, not a multiple of a packet
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	sent := make(chan net.Conn, 1)
	go func() {
		c, err := src.Accept()
		if err != nil {
			return
		}
		c.Write(data)
		sent <- c // kept open: the jump stays, idle, once the data is read
	}()
	ts := newTestServer(t, func(c *config.Config) {
		c.Targets = append(c.Targets, config.Target{Name: "source", Address: src.Addr().String(), Groups: []string{"ops"}})
	})
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Dial("tcp", "source:22")
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	got := make([]byte, 0, size)
	buf := make([]byte, 1000)
	for len(got) < size {
		n, err := ch.Read(buf[:min(len(buf), size-len(got))])
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("download differs from the source (first difference at %d)", firstDiff(got, data))
	}
	backendConn := <-sent
	defer backendConn.Close()
	// The jump is open and idle now: no pooled buffer may stay with it.
	deadline := time.Now().Add(30 * time.Second)
	for sockio.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := sockio.InUse(); n != 0 {
		t.Fatalf("%d pooled buffers held by an idle jump", n)
	}
	// And it still works both ways.
	backendConn.Write([]byte("still here"))
	echo := make([]byte, len("still here"))
	if _, err := io.ReadFull(ch, echo); err != nil || !bytes.Equal(echo, []byte("still here")) {
		t.Fatalf("idle jump after the download: %q, %v", echo, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
