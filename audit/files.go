// On-disk layout shared by writer and readers: rotated file names, the
// sidecar lock, and reading lines forwards and backwards.

package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var (
	// errTruncated marks a final line without its newline: a torn write.
	errTruncated = errors.New("truncated record: line has no newline")
	// errLineTooLong marks a line longer than maxLineSize.
	errLineTooLong = errors.New("line longer than 1 MiB")
)

// rotatedNumbers returns the N of every rotated file path.N, ascending.
func rotatedNumbers(path string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filepath.Dir(path), err)
	}
	prefix := filepath.Base(path) + "."
	var nums []int
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || suffix == "" || suffix[0] == '0' || strings.Trim(suffix, "0123456789") != "" {
			continue
		}
		if n, err := strconv.Atoi(suffix); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// rotatedFiles returns the rotated files of path, oldest first.
func rotatedFiles(path string) ([]string, error) {
	nums, err := rotatedNumbers(path)
	names := make([]string, len(nums))
	for i, n := range nums {
		names[i] = rotatedName(path, n)
	}
	return names, err
}

func rotatedName(path string, n int) string { return fmt.Sprintf("%s.%d", path, n) }

// flock applies how (LOCK_EX, LOCK_SH, LOCK_UN) to f, retrying on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// sharedLock takes the sidecar lock in shared mode so that a reader sees no
// append or rotation half done. A log without a lock file (a copy being
// inspected) is read without locking.
func sharedLock(path string) (unlock func(), err error) {
	f, err := os.Open(path + ".lock")
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := flock(f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// readLine returns the next line of br without its newline. At the end it
// returns io.EOF; a final line without a newline comes back with errTruncated.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLineSize+1 {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, errTruncated
		default:
			return nil, err
		}
	}
}

// lineReader reads the lines of one file with their byte offsets. Unlike
// readLine it goes on after a damaged line, so a reader can look past it.
type lineReader struct {
	br  *bufio.Reader
	off int64 // offset of the next line
}

// next returns the next line without its newline and its offset; io.EOF at
// the end. A line longer than maxLineSize comes back as nil with
// errLineTooLong (and is skipped), a final line without its newline with
// errTruncated.
func (lr *lineReader) next() (line []byte, off int64, err error) {
	off = lr.off
	long := false
	for {
		frag, err := lr.br.ReadSlice('\n')
		lr.off += int64(len(frag))
		if !long {
			line = append(line, frag...)
			if len(line) > maxLineSize+1 {
				line, long = nil, true
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil && long:
			return nil, off, errLineTooLong
		case err == nil:
			return line[:len(line)-1], off, nil
		case errors.Is(err, io.EOF) && lr.off > off:
			return line, off, errTruncated
		default:
			return nil, off, err
		}
	}
}

// lastLine returns the final line of f (size bytes long) without its newline,
// reading backwards from the end; nil if f is empty. A file that does not end
// in a newline yields errTruncated.
func lastLine(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	const chunk = 4096
	var buf []byte
	for pos := size; pos > 0; {
		n := min(chunk, pos)
		pos -= n
		b := make([]byte, n, n+int64(len(buf)))
		if _, err := f.ReadAt(b, pos); err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		buf = append(b, buf...)
		if buf[len(buf)-1] != '\n' {
			return nil, errTruncated
		}
		if i := bytes.LastIndexByte(buf[:len(buf)-1], '\n'); i >= 0 {
			return buf[i+1 : len(buf)-1], nil
		}
		if len(buf) > maxLineSize+1 {
			return nil, errLineTooLong
		}
	}
	return buf[:len(buf)-1], nil
}

// syncDir fsyncs a directory so that a create or rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
