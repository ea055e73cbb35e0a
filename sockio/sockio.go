// Package sockio moves a jump's bytes with fewer trips through the Go
// scheduler and fewer system calls.
//
// A Conn reads and writes its socket with raw non-blocking system calls run
// inside syscall.RawConn. A call that would block parks the goroutine in the
// runtime poller, exactly as net.Conn does; a call that does not block skips
// the scheduler's syscall hand-off (entersyscall/exitsyscall). On a busy jump
// that hand-off wakes the runtime's sysmon thread, which then polls every
// 20 µs: measured, it cost more CPU than the AES-GCM of the data
// (docs/benchmarks.md). The sockets come from the net package, so they are
// non-blocking and every call returns at once, which is what
// syscall.RawSyscall requires.
//
// A Conn can also merge x/crypto/ssh's split packet writes (MergeSplitWrites):
// with AES-GCM, x/crypto writes every packet longer than 4 KiB as two write(2)
// calls inside one writePacket call, first its full 4 KiB bufio buffer, then
// the rest. The Conn keeps the 4 KiB part (in a pooled buffer) and sends it
// with the rest in one writev(2). Nothing is kept past the end of a packet,
// so no timer and no flush are needed.
//
// Copy copies from a Conn with a pooled buffer taken only while data is
// ready, so idle jumps hold none.
package sockio

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// splitSize is the size of the first write of a split packet: the default
// buffer of bufio.NewWriter, which x/crypto/ssh's transport uses. An AES-GCM
// packet on the wire is 4 + 16k + 16 bytes, never a multiple of 16, so a
// write of exactly splitSize never ends a packet.
const splitSize = 4096

var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, splitSize); return &b }}

// inUse counts pooled buffers (held packet parts and Copy's read buffers)
// taken and not yet returned.
var inUse atomic.Int64

// InUse reports how many pooled buffers all Conns and Copies hold right now.
func InUse() int64 { return inUse.Load() }

// Conn is a net.Conn over a socket read and written with raw non-blocking
// system calls. It is safe for concurrent use like net.Conn; concurrent
// Writes are serialised.
type Conn struct {
	net.Conn
	rc    syscall.RawConn // nil: c is not a socket, calls go to net.Conn
	merge atomic.Bool

	rmu sync.Mutex
	rd  rawOp // the Read in progress, under rmu

	wmu    sync.Mutex
	wr     rawOp        // the write in progress, under wmu
	held   *[]byte      // first part of a split packet, under wmu; nil when none
	writes atomic.Int64 // write(2) and writev(2) calls made
}

// rawOp is one read or write in progress: its buffers and its result. Its
// callback for RawConn is made once per Conn, so a Read or Write allocates
// nothing (a closure per call would, several times per packet).
type rawOp struct {
	head, p []byte
	done    int
	errno   syscall.Errno
	fn      func(fd uintptr) bool
}

// New wraps c. If c has no file descriptor (not a syscall.Conn), the Conn
// passes every call to c unchanged.
func New(c net.Conn) *Conn {
	conn := &Conn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			conn.rc = rc
			conn.rd.fn = conn.readOnce
			conn.wr.fn = conn.writeSome
		}
	}
	return conn
}

// MergeSplitWrites makes the Conn keep a write of exactly 4 KiB and send it
// with the next one. Call it only for a connection whose outgoing packets
// are AES-GCM (ssh.NegotiatedAlgorithms.Write.Cipher ending in
// "-gcm@openssh.com"): only then is such a write always the first half of a
// packet whose rest follows at once.
func (c *Conn) MergeSplitWrites() { c.merge.Store(true) }

// Read reads like net.Conn.Read.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rc == nil {
		return c.Conn.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rd.p = p
	err := c.rc.Read(c.rd.fn)
	n, errno := c.rd.done, c.rd.errno
	c.rd.p = nil
	c.rmu.Unlock()
	switch {
	case err != nil: // closed, or the deadline passed
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes like net.Conn.Write: all of p, or an error.
func (c *Conn) Write(p []byte) (int, error) {
	if c.rc == nil {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.held != nil {
		head := *c.held
		n, err := c.writeAll(head, p)
		c.putHeld()
		return max(n-len(head), 0), err
	}
	if len(p) == splitSize && c.merge.Load() {
		c.held = heldPool.Get().(*[]byte)
		inUse.Add(1)
		*c.held = append((*c.held)[:0], p...)
		return len(p), nil
	}
	return c.writeAll(nil, p)
}

// Close closes the connection, dropping a held packet part (its peer is
// being cut off in the middle of that packet anyway). The socket is closed
// first: that wakes a Write parked on a peer that does not read, which
// holds the write lock.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.wmu.Lock()
	c.putHeld()
	c.wmu.Unlock()
	return err
}

func (c *Conn) putHeld() {
	if c.held != nil {
		heldPool.Put(c.held)
		c.held = nil
		inUse.Add(-1)
	}
}

// readOnce is the Read callback: false (park in the poller) on EAGAIN.
func (c *Conn) readOnce(fd uintptr) bool {
	c.rd.done, c.rd.errno = rawRead(fd, c.rd.p)
	return c.rd.errno != syscall.EAGAIN
}

// writeAll writes head and then p, in one writev when head is set, waiting
// in the poller whenever the socket buffer is full. It returns how many
// bytes of head and p were written. The caller holds wmu.
func (c *Conn) writeAll(head, p []byte) (int, error) {
	c.wr.head, c.wr.p, c.wr.done, c.wr.errno = head, p, 0, 0
	defer func() { c.wr.head, c.wr.p = nil, nil }()
	for c.wr.done < len(head)+len(p) {
		if err := c.rc.Write(c.wr.fn); err != nil {
			return c.wr.done, c.opError("write", err)
		}
		if e := c.wr.errno; e != 0 { // never EAGAIN: writeSome waits that out
			return c.wr.done, c.opError("write", os.NewSyscallError("write", e))
		}
	}
	return c.wr.done, nil
}

// writeSome is the write callback: it writes until everything is out
// (true), the socket buffer is full (false: park in the poller), or an
// error (true, with wr.errno set).
func (c *Conn) writeSome(fd uintptr) bool {
	w := &c.wr
	for w.done < len(w.head)+len(w.p) {
		var n int
		c.writes.Add(1)
		if w.done < len(w.head) {
			n, w.errno = rawWritev(fd, w.head[w.done:], w.p)
		} else {
			n, w.errno = rawWrite(fd, w.p[w.done-len(w.head):])
		}
		switch w.errno {
		case 0:
			w.done += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			return true
		}
	}
	w.errno = 0
	return true
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// The raw calls. fd is a non-blocking socket: none of them can block.

func rawRead(fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

func rawWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errno
}

func rawWritev(fd uintptr, a, b []byte) (int, syscall.Errno) {
	var iov [2]syscall.Iovec
	iov[0].Base = &a[0]
	iov[0].SetLen(len(a))
	k := 1
	if len(b) > 0 {
		iov[1].Base = &b[0]
		iov[1].SetLen(len(b))
		k = 2
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
	return int(n), errno
}
