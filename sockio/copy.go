package sockio

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// CopyBufSize is the size of Copy's pooled read buffer: one full SSH data
// packet of the OpenSSH client's direct-tcpip channel.
const CopyBufSize = 32 << 10

var copyPool = sync.Pool{New: func() any { b := make([]byte, CopyBufSize); return &b }}

// Copy copies src to dst until src ends (nil) or either side fails, like
// io.Copy, but takes its buffer from a pool only while data is ready: the
// read runs inside the poller's callback, and on EAGAIN the buffer goes back
// before the goroutine parks, so thousands of idle jumps hold none.
func Copy(dst io.Writer, src *Conn) (written int64, err error) {
	if src.rc == nil {
		return io.Copy(dst, src)
	}
	var (
		bp    *[]byte
		n     int
		errno syscall.Errno
	)
	read := func(fd uintptr) bool { // made once: nothing allocated per read
		bp = copyPool.Get().(*[]byte)
		inUse.Add(1)
		n, errno = rawRead(fd, *bp)
		if errno == syscall.EAGAIN {
			putCopyBuf(bp)
			return false // park in the poller without a buffer
		}
		return true
	}
	for {
		err := src.rc.Read(read)
		if err != nil { // closed, or the deadline passed
			return written, src.opError("read", err)
		}
		if errno != 0 || n == 0 {
			putCopyBuf(bp)
			if errno != 0 {
				return written, src.opError("read", os.NewSyscallError("read", errno))
			}
			return written, nil // EOF
		}
		m, werr := dst.Write((*bp)[:n])
		putCopyBuf(bp)
		written += int64(m)
		if werr != nil {
			return written, werr
		}
	}
}

func putCopyBuf(bp *[]byte) {
	copyPool.Put(bp)
	inUse.Add(-1)
}

// ReadBufSize is the buffer CopyBursts holds for a whole copy: enough for
// keystrokes and small packets, so an idle jump holds little.
const ReadBufSize = 4 << 10

// CopyBursts copies src to dst like io.Copy, for a source that has no
// poller to wait on (an SSH channel: its Read blocks): it holds a
// ReadBufSize buffer for the whole copy, and while src keeps filling it (a
// bulk transfer) reads into a pooled CopyBufSize buffer instead, so a bulk
// upload takes one Read and one write per 32 KiB packet rather than several.
// The pooled buffer goes back as soon as a read returns less than
// ReadBufSize; a copy whose bulk transfer ended on a full read keeps it
// until src's next bytes.
func CopyBursts(dst io.Writer, src io.Reader) (written int64, err error) {
	small := make([]byte, ReadBufSize)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			putCopyBuf(big)
		}
	}()
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			m, werr := dst.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
		switch {
		case big == nil && n == len(small):
			big = copyPool.Get().(*[]byte)
			inUse.Add(1)
			buf = *big
		case big != nil && n < len(small):
			putCopyBuf(big)
			big = nil
			buf = small
		}
	}
}
