package coalesce

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection (net.Pipe would
// block each write until it is read, which hides batching).
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// countingConn counts Write calls that reach the socket (writev counts once).
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func TestBytesArriveInOrder(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(b)
		done <- got
	}()
	held := false
	var pos uint64
	for i := 0; i < 400; i++ {
		switch rng.IntN(10) {
		case 0:
			if !held {
				c.Hold()
				held = true
			}
		case 1:
			if held {
				if err := c.Release(); err != nil {
					t.Fatal(err)
				}
				held = false
			}
		}
		// sizes around the SSH pattern: 4-byte prefixes, 4 KiB, 28 KiB, over BufSize
		size := []int{1, 4, 4096, 28700, BufSize - 3, BufSize + 7}[rng.IntN(6)]
		// each byte is a byte of its own stream offset (as 8-byte words), so
		// any loss, duplication or reordering shows
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(pos >> (8 * (pos % 8)))
			pos++
		}
		want.Write(p)
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
	}
	if held {
		c.Release()
	}
	c.Close()
	got := <-done
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d; first difference at %d", len(got), want.Len(), firstDiff(got, want.Bytes()))
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d buffers still taken from the pool", n)
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

// Writers on other goroutines (x/crypto's key exchange, window adjustments)
// while a copy loop holds the Conn: each Write stays contiguous, none is lost.
func TestConcurrentWritesStayWhole(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	const writers, each = 4, 500
	done := make(chan map[uint32]int)
	go func() {
		seen := map[uint32]int{}
		hdr := make([]byte, 8)
		for {
			if _, err := io.ReadFull(b, hdr); err != nil {
				done <- seen
				return
			}
			id, n := binary.BigEndian.Uint32(hdr), binary.BigEndian.Uint32(hdr[4:])
			body := make([]byte, n)
			if _, err := io.ReadFull(b, body); err != nil {
				done <- seen
				return
			}
			for _, x := range body {
				if x != byte(id) {
					t.Errorf("record of writer %d torn", id)
					done <- seen
					return
				}
			}
			seen[id]++
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w == 0 && i%7 == 0 {
					c.Hold()
					defer c.Release()
				}
				n := 1 + (i*131)%9000
				rec := make([]byte, 8+n)
				binary.BigEndian.PutUint32(rec, uint32(w))
				binary.BigEndian.PutUint32(rec[4:], uint32(n))
				for j := 8; j < len(rec); j++ {
					rec[j] = byte(w)
				}
				if _, err := c.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	seen := <-done
	for w := range writers {
		if seen[uint32(w)] != each {
			t.Errorf("writer %d: %d records arrived, want %d", w, seen[uint32(w)], each)
		}
	}
}

// While held, writes are batched: an SSH-like stream of 4 KiB + 28 KiB
// writes reaches the socket in far fewer system calls.
func TestHoldBatchesWrites(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countingConn{Conn: a}
	c := New(cc)
	c.Delay = time.Hour // batching only: no timer flush in between on a loaded machine
	go io.Copy(io.Discard, b)
	c.Hold()
	const packets = 64
	for range packets {
		c.Write(make([]byte, 4096))
		c.Write(make([]byte, 28700))
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	// On a TCP socket a flush is one writev of the buffer and the write that
	// did not fit (so one system call per two packets); through this
	// counting wrapper net.Buffers falls back to one Write per part. Where
	// the buffer boundaries fall can add a write or two (65 was seen under
	// load), so allow a quarter more: unbatched is twice as many.
	if cc.writes > packets*5/4 {
		t.Fatalf("%d socket writes for %d packets (%d writes unbatched)", cc.writes, packets, 2*packets)
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d buffers still taken after Release", n)
	}
}

// A holder that never releases (a copy loop blocked on the peer's window)
// cannot keep bytes back longer than Delay: the peer gets them and can send
// the window adjustment the holder waits for.
func TestHeldBytesSentAfterDelay(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	c.Delay = 5 * time.Millisecond
	c.Hold() // and never Release
	if _, err := c.Write([]byte("window please")); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(30 * time.Second)) // a generous bound, not a sleep
	got := make([]byte, len("window please"))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatalf("held bytes never sent: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d buffers still taken after the delayed flush", n)
	}
}

// Unheld, a Conn is a plain connection: nothing waits, nothing is pooled.
func TestUnheldWritesGoStraightThrough(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	c.Delay = time.Hour
	c.Write([]byte("hello"))
	if n := InUse(); n != 0 {
		t.Fatalf("unheld write took %d buffers", n)
	}
	b.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A write error is returned once it happens and by every later call.
func TestWriteErrorSticks(t *testing.T) {
	a, _ := tcpPair(t)
	c := New(a)
	c.Hold()
	c.Write([]byte("x"))
	a.Close()
	if err := c.Release(); err == nil {
		t.Fatal("Release after close: no error")
	}
	if _, err := c.Write([]byte("y")); err == nil {
		t.Fatal("Write after a failed flush: no error")
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d buffers still taken after a failed flush", n)
	}
}

func BenchmarkHeldSSHPackets(b *testing.B) {
	c := New(discardConn{})
	prefix, body := make([]byte, 4096), make([]byte, 28700)
	b.SetBytes(int64(len(prefix) + len(body)))
	c.Hold()
	for b.Loop() {
		c.Write(prefix)
		c.Write(body)
	}
	c.Release()
}

type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
