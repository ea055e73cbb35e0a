// Package coalesce batches the many small writes an SSH transport makes into
// fewer system calls. x/crypto/ssh writes each packet with its own flush, a
// full data packet as two write(2) calls (a 4 KiB buffered prefix, then the
// rest); a Conn under ssh.NewServerConn keeps those writes while a copy loop
// holds it and sends them in one writev when the buffer fills, when the last
// holder releases it (the loop calls Release before it waits for more input),
// or after MaxDelay at the latest (a loop blocked on the peer's window, or a
// write from another goroutine, is never held longer than that).
//
// A Conn holds a buffer only while it has bytes in it: the buffers come from
// a pool, so an idle connection holds none. It never reorders, drops or adds
// a byte; it does not know the SSH framing.
package coalesce

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// BufSize bounds the bytes kept back: two full SSH data packets, far
	// below the 2 MiB channel window of OpenSSH and x/crypto, so a peer
	// always sees enough data to send its window adjustment.
	BufSize = 64 << 10
	// MaxDelay is the longest a byte waits in the buffer.
	MaxDelay = 2 * time.Millisecond
)

var pool = sync.Pool{New: func() any { b := make([]byte, 0, BufSize); return &b }}

// inUse counts buffers taken from the pool and not yet returned (for tests
// and for the claim that idle connections hold none).
var inUse atomic.Int64

// InUse reports how many buffers are held by all Conns right now.
func InUse() int64 { return inUse.Load() }

// Conn is a net.Conn whose writes may be coalesced while it is held. All its
// methods are safe for concurrent use.
type Conn struct {
	net.Conn
	// Delay is the longest a byte waits in the buffer; zero means MaxDelay.
	// Set it before the first Write.
	Delay time.Duration

	mu    sync.Mutex
	holds int
	buf   *[]byte // nil when empty
	timer *time.Timer
	err   error // sticky: the first write error
}

// New wraps c. Until Hold is called, writes go straight through.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Hold starts (or joins) coalescing: writes are kept until every holder has
// called Release, the buffer is full, or MaxDelay passed.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// Release ends one Hold; the last one sends what is buffered and returns the
// buffer to the pool. It returns the first write error, if any.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holds > 0 {
		c.holds--
	}
	if c.holds == 0 {
		c.flushLocked()
	}
	return c.err
}

// Write sends p now if nobody holds the Conn, and otherwise keeps it with
// the bytes before it, sending them together once BufSize would be exceeded.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.holds > 0 && c.buffered()+len(p) <= BufSize {
		if c.buf == nil {
			c.buf = pool.Get().(*[]byte)
			inUse.Add(1)
			c.armLocked()
		}
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	// One writev for what is buffered and p, without copying p.
	bufs := net.Buffers{*c.buf, p}
	n, err := bufs.WriteTo(c.Conn)
	sent := int(n) - c.buffered()
	c.putLocked()
	if err != nil {
		c.err = err
		return max(sent, 0), err
	}
	return len(p), nil
}

// Close drops anything still buffered (MaxDelay has not passed for it; the
// peer is being cut off anyway) and closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.putLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *Conn) buffered() int {
	if c.buf == nil {
		return 0
	}
	return len(*c.buf)
}

// armLocked starts the MaxDelay timer for bytes that just entered the buffer.
func (c *Conn) armLocked() {
	d := c.Delay
	if d <= 0 {
		d = MaxDelay
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.expire)
		return
	}
	c.timer.Reset(d)
}

func (c *Conn) expire() {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
}

func (c *Conn) flushLocked() {
	if c.buf == nil {
		return
	}
	if c.err == nil && len(*c.buf) > 0 {
		if _, err := c.Conn.Write(*c.buf); err != nil {
			c.err = err
		}
	}
	c.putLocked()
}

// putLocked empties the buffer and gives it back to the pool.
func (c *Conn) putLocked() {
	if c.buf == nil {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	*c.buf = (*c.buf)[:0]
	pool.Put(c.buf)
	c.buf = nil
	inUse.Add(-1)
}
