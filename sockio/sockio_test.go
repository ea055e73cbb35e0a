package sockio

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func tcpPair(t testing.TB) (near, far net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	near, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { near.Close(); far.Close() })
	return near, far
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>13)
	}
	return b
}

// bound keeps a broken test from hanging; it is never waited for.
func bound(c net.Conn) { c.SetDeadline(time.Now().Add(30 * time.Second)) }

// Writes of every size, 4 KiB ones held and merged, reach a peer that reads
// in small pieces (the socket buffer fills, so writes park in the poller)
// complete and in order; reads in odd sizes get everything the peer sent.
func TestConnMovesEveryByteInOrder(t *testing.T) {
	nearRaw, far := tcpPair(t)
	c := New(nearRaw)
	c.MergeSplitWrites()
	bound(c)
	bound(far)
	sizes := []int{1, splitSize, 4095, 32<<10 + 13, splitSize, 100000, 7, splitSize, 28 << 10, 3}
	var want []byte
	for len(want) < 8<<20 {
		for _, n := range sizes {
			want = append(want, pattern(n+len(want)%11)...)
		}
	}
	writeErr := make(chan error, 1)
	go func() {
		rest := want
		for i := 0; len(rest) > 0; i++ {
			n := min(sizes[i%len(sizes)], len(rest))
			if n == splitSize && n == len(rest) {
				n-- // the last write must not be one that waits for its rest
			}
			if m, err := c.Write(rest[:n]); err != nil || m != n {
				writeErr <- err
				return
			}
			rest = rest[n:]
		}
		writeErr <- nil
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 1000)
	for len(got) < len(want) {
		n, err := far.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
		}
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes arrived changed or out of order")
	}
	if InUse() != 0 {
		t.Fatalf("%d pooled buffers still held after the last write", InUse())
	}

	// And the other way: the peer writes, Read in odd sizes gets it all.
	go func() { far.Write(want); far.(*net.TCPConn).CloseWrite() }()
	got = got[:0]
	for i := 0; ; i++ {
		b := make([]byte, 1+i%5000)
		n, err := c.Read(b)
		got = append(got, b[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, changed or out of order (sent %d)", len(got), len(want))
	}
}

// A 4 KiB write is kept until the next write and both go out in one
// writev; without MergeSplitWrites each write is sent at once.
func TestMergeSplitWrites(t *testing.T) {
	for _, merge := range []bool{false, true} {
		nearRaw, far := tcpPair(t)
		c := New(nearRaw)
		if merge {
			c.MergeSplitWrites()
		}
		bound(far)
		head, tail := pattern(splitSize), pattern(28<<10)
		c.Write(head)
		wantCalls := int64(1)
		if merge {
			wantCalls = 0
			if InUse() != 1 {
				t.Fatalf("merge: %d pooled buffers held after the first half, want 1", InUse())
			}
		}
		if got := c.writes.Load(); got != wantCalls {
			t.Fatalf("merge=%v: %d system calls after a 4 KiB write, want %d", merge, got, wantCalls)
		}
		c.Write(tail)
		if got, want := c.writes.Load(), 2-int64(btoi(merge)); got != want {
			t.Fatalf("merge=%v: %d system calls for both halves, want %d", merge, got, want)
		}
		got := make([]byte, len(head)+len(tail))
		if _, err := io.ReadFull(far, got); err != nil || !bytes.Equal(got, append(head, tail...)) {
			t.Fatalf("merge=%v: peer got the halves changed (%v)", merge, err)
		}
		if InUse() != 0 {
			t.Fatalf("merge=%v: %d pooled buffers held after the packet", merge, InUse())
		}
	}
}

// withHeldHalf is a merging Conn over loopback that holds the first 4 KiB
// half of a packet, and its peer.
func withHeldHalf(t *testing.T) (*Conn, net.Conn) {
	nearRaw, far := tcpPair(t)
	c := New(nearRaw)
	c.MergeSplitWrites()
	bound(far)
	c.Write(pattern(splitSize))
	return c, far
}

// An empty write after a held half sends the half (x/crypto never writes
// nothing, but a Write of nothing must not lose or break anything).
func TestEmptyWriteSendsHeldHalf(t *testing.T) {
	c, far := withHeldHalf(t)
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty write: %d, %v", n, err)
	}
	got := make([]byte, splitSize)
	if _, err := io.ReadFull(far, got); err != nil || !bytes.Equal(got, pattern(splitSize)) {
		t.Fatalf("held half after an empty write: %v", err)
	}
}

// A held half is dropped, not sent, if the connection closes under it.
func TestCloseDropsHeldHalf(t *testing.T) {
	c, far := withHeldHalf(t)
	c.Close()
	if n, err := io.ReadAll(far); err != nil || len(n) != 0 {
		t.Fatalf("peer got %d bytes (%v), want none", len(n), err)
	}
	if InUse() != 0 {
		t.Fatalf("%d pooled buffers held after Close", InUse())
	}
}

// Close ends a Write parked on a peer that reads nothing, as net.Conn's
// Close does: a jump whose client stopped reading can still be torn down.
func TestCloseEndsParkedWrite(t *testing.T) {
	nearRaw, _ := tcpPair(t)
	c := New(nearRaw)
	c.MergeSplitWrites()
	c.Write(pattern(splitSize)) // a held half, sent with the next write
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20)) // far more than the socket buffers
		wrote <- err
	}()
	for c.writes.Load() == 0 { // the write has begun, holding the write lock
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	limit := time.After(30 * time.Second) // a bound for a broken build, not a wait
	for range 2 {
		select {
		case err := <-wrote:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("parked write ended with %v, want net.ErrClosed", err)
			}
		case err := <-closed:
			if err != nil {
				t.Fatalf("close: %v", err)
			}
		case <-limit:
			t.Fatal("Close did not end a write parked on a peer that does not read")
		}
	}
	if InUse() != 0 {
		t.Fatalf("%d pooled buffers held after Close", InUse())
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The errors are net.Conn's: deadlines time out, Close ends Read and
// Write with net.ErrClosed, a peer's close is io.EOF, and writing to a
// peer that is gone fails.
func TestErrorsAreNetConns(t *testing.T) {
	nearRaw, far := tcpPair(t)
	c := New(nearRaw)
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	far.Write([]byte("hi"))
	far.Close()
	bound(c)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hi" {
		t.Fatalf("read to the peer's close: %q, %v", got, err)
	}
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // the first writes may still be buffered
		_, werr = c.Write(make([]byte, 64<<10))
	}
	if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
		t.Fatalf("writing to a closed peer: %v, want the socket's EPIPE or ECONNRESET", werr)
	}
	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
}

// A Conn over something that is not a socket passes every call through,
// and Copy from it is io.Copy.
func TestNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := New(a)
	c.MergeSplitWrites()
	go c.Write(pattern(splitSize))
	got := make([]byte, splitSize)
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, pattern(splitSize)) {
		t.Fatalf("pipe write: %v", err)
	}
	go b.Write([]byte("back"))
	got = got[:4]
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "back" {
		t.Fatalf("pipe read: %q, %v", got, err)
	}
	go func() { b.Write([]byte("copied")); b.Close() }()
	var out bytes.Buffer
	if n, err := Copy(&out, c); err != nil || n != 6 || out.String() != "copied" {
		t.Fatalf("copy from a pipe: %d %q %v", n, out.String(), err)
	}
}

// Copy delivers what the source sent while the source waits (a prompt
// must not stay in a buffer), moves a large stream intact, and holds no
// pooled buffer once the source is idle.
func TestCopy(t *testing.T) {
	srcNear, srcFar := tcpPair(t)
	dstNear, dstFar := tcpPair(t)
	bound(srcFar)
	bound(dstFar)
	dst := New(dstNear)
	dst.MergeSplitWrites()
	done := make(chan error, 1)
	var copied int64
	go func() {
		var err error
		copied, err = Copy(dst, New(srcNear))
		done <- err
	}()
	for _, prompt := range []string{"login: ", "password: ", "$ "} {
		srcFar.Write([]byte(prompt))
		got := make([]byte, len(prompt))
		if _, err := io.ReadFull(dstFar, got); err != nil || string(got) != prompt {
			t.Fatalf("prompt %q not delivered while the source waits: %q, %v", prompt, got, err)
		}
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d pooled buffers held while the source is idle", n)
	}
	data := pattern(5<<20 + 12345)
	go func() { srcFar.Write(data); srcFar.Close() }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(dstFar, got); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("copied stream differs")
	}
	if err := <-done; err != nil {
		t.Fatalf("copy: %v", err)
	}
	if want := int64(len(data) + len("login: password: $ ")); copied != want {
		t.Fatalf("copied %d bytes, want %d", copied, want)
	}
	if n := InUse(); n != 0 {
		t.Fatalf("%d pooled buffers held after the copy", n)
	}
}

// Through a real x/crypto/ssh connection with AES-GCM, a 1 MiB channel
// write reaches the client intact, and the server's socket sees about one
// system call per packet with MergeSplitWrites, two without. This is the
// x/crypto behaviour the merge relies on; if it changes, this test says so.
func TestGCMPacketsOneWriteEach(t *testing.T) {
	for _, merge := range []bool{false, true} {
		calls, packets := gcmTransfer(t, merge, 1<<20)
		t.Logf("merge=%v: %d system calls for %d data packets", merge, calls, packets)
		if merge && calls > packets+packets/8 {
			t.Errorf("merge: %d system calls for %d packets, want about one each", calls, packets)
		}
		if !merge && calls < 2*packets {
			t.Errorf("no merge: %d system calls for %d packets; x/crypto no longer splits its packets (the merge may be obsolete)", calls, packets)
		}
	}
}

// gcmTransfer sends size bytes from an x/crypto server channel to an
// x/crypto client over AES-128-GCM and returns the server socket's write
// calls during the transfer and the number of data packets.
func gcmTransfer(t *testing.T, merge bool, size int) (calls int64, packets int64) {
	t.Helper()
	nearRaw, far := tcpPair(t)
	bound(nearRaw)
	bound(far)
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	scfg := &ssh.ServerConfig{NoClientAuth: true} // a transport test: no users here
	scfg.AddHostKey(signer)
	c := New(nearRaw)
	data := pattern(size)
	serverErr := make(chan error, 1)
	var before int64
	go func() {
		sconn, chans, reqs, err := ssh.NewServerConn(c, scfg)
		if err != nil {
			serverErr <- err
			return
		}
		defer sconn.Wait() // the client hangs up: closing first could reset unread data
		go ssh.DiscardRequests(reqs)
		if merge {
			c.MergeSplitWrites()
		}
		nch := <-chans
		ch, creqs, err := nch.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		go ssh.DiscardRequests(creqs)
		before = c.writes.Load()
		_, err = ch.Write(data)
		ch.Close()
		serverErr <- err
	}()
	ccfg := &ssh.ClientConfig{User: "t", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config: ssh.Config{Ciphers: []string{"aes128-gcm@openssh.com"}}}
	cc, cchans, creqs, err := ssh.NewClientConn(far, "test", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(cc, cchans, creqs)
	defer client.Close()
	ch, reqs, err := client.OpenChannel("data", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	got, err := io.ReadAll(ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-serverErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("client got %d bytes, changed (sent %d)", len(got), len(data))
	}
	const maxPayload = 32 << 10 // x/crypto client's channel packet size
	return c.writes.Load() - before, int64((size + maxPayload - 1) / maxPayload)
}

// BenchmarkCopy relays 1 MiB a round over loopback: net.Conn with io.Copy
// against a sockio Conn with Copy. Both should run at the same speed with
// no allocation per round: in one busy process the scheduler never idles,
// so the sysmon wake-ups sockio avoids do not happen here; that gain shows
// only in a real jump (make bench).
func BenchmarkCopy(b *testing.B) {
	for _, raw := range []bool{false, true} {
		name := "net.Conn"
		if raw {
			name = "sockio"
		}
		b.Run(name, func(b *testing.B) {
			srcNear, srcFar := tcpPair(b)
			dstNear, dstFar := tcpPair(b)
			go func() {
				if raw {
					Copy(New(dstNear), New(srcNear))
				} else {
					io.Copy(dstNear, srcNear)
				}
				dstNear.Close()
			}()
			go io.Copy(io.Discard, dstFar)
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				srcFar.Write(chunk)
			}
			srcFar.Close()
		})
	}
}

// chunkReader returns its chunks one per Read (as an SSH channel returns
// what has arrived), splitting a chunk the buffer cannot hold, and records
// each buffer size it was given and how many pooled buffers were out then.
type chunkReader struct {
	chunks [][]byte
	sizes  []int
	inUse  []int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	r.inUse = append(r.inUse, InUse())
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if n == len(r.chunks[0]) {
		r.chunks = r.chunks[1:]
	} else {
		r.chunks[0] = r.chunks[0][n:]
	}
	return n, nil
}

// CopyBursts reads with its small buffer until a read fills it, with the
// pooled 32 KiB one during the bulk transfer, and goes back to the small
// one (returning the pooled buffer) at the first short read; every byte
// arrives in order.
func TestCopyBurstsBufferFollowsTheTraffic(t *testing.T) {
	small, big := ReadBufSize, CopyBufSize
	key, bulk := pattern(40), pattern(small+3*big+1000)
	src := &chunkReader{chunks: [][]byte{key, bulk, key, key}}
	var dst bytes.Buffer
	n, err := CopyBursts(&dst, src)
	want := append(append(append(append([]byte{}, key...), bulk...), key...), key...)
	if err != nil || n != int64(len(want)) || !bytes.Equal(dst.Bytes(), want) {
		t.Fatalf("copied %d bytes (%v), want %d in order", n, err, len(want))
	}
	// key; the bulk fills the small buffer, then three 32 KiB reads and
	// a 1000-byte tail, which sends the pooled buffer back; key, key, EOF.
	wantSizes := []int{small, small, big, big, big, big, small, small, small}
	wantInUse := []int64{0, 0, 1, 1, 1, 1, 0, 0, 0}
	if fmt.Sprint(src.sizes) != fmt.Sprint(wantSizes) || fmt.Sprint(src.inUse) != fmt.Sprint(wantInUse) {
		t.Fatalf("buffer sizes %v with pooled buffers out %v,\nwant %v and %v", src.sizes, src.inUse, wantSizes, wantInUse)
	}
	if InUse() != 0 {
		t.Fatalf("%d pooled buffers held after the copy", InUse())
	}
}
