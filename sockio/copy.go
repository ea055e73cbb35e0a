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
