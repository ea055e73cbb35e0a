package gateway

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"bastion/coalesce"
	"bastion/config"
)

// The download loop flushes what it held back before it waits for more
// backend data: a backend that sends a prompt and then waits for the user
// must not leave the prompt in the bastion's buffer. The delayed flush is
// set to an hour so only the loop's own flush can deliver it.
func TestCopyFlushesBeforeWaiting(t *testing.T) {
	backendFar, backend := tcpPair(t)
	client, clientFar := tcpPair(t)
	out := coalesce.New(client)
	out.Delay = time.Hour
	done := make(chan error, 1)
	go func() {
		_, err := copyFromConn(out, backend, out)
		done <- err
	}()
	for _, prompt := range []string{"login: ", "password: ", "$ "} {
		if _, err := backendFar.Write([]byte(prompt)); err != nil {
			t.Fatal(err)
		}
		clientFar.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not a wait
		got := make([]byte, len(prompt))
		if _, err := io.ReadFull(clientFar, got); err != nil {
			t.Fatalf("prompt %q not delivered while the backend waits: %v", prompt, err)
		}
		if string(got) != prompt {
			t.Fatalf("got %q, want %q", got, prompt)
		}
	}
	backendFar.Close()
	if err := <-done; err != nil {
		t.Fatalf("copy: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second) // other tests' connections may still be closing
	for coalesce.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := coalesce.InUse(); n != 0 {
		t.Fatalf("%d coalescing buffers held after the copy ended", n)
	}
}

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
	// The jump is open and idle now: no coalescing buffer may stay with it.
	deadline := time.Now().Add(30 * time.Second)
	for coalesce.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := coalesce.InUse(); n != 0 {
		t.Fatalf("%d coalescing buffers held by an idle jump", n)
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
