// Follow: tail -f for the audit log, across rotations.

package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// pollInterval is how often Follow looks for new records. Tests shorten it.
var pollInterval = 250 * time.Millisecond

// Follow calls fn, in order, for every record with Seq >= from (0 and 1 both
// mean from the start) that is in the log now or is appended later, polling
// for new records and following rotation. It returns ctx.Err() when ctx is
// done, or the first read error; it skips a complete line that does not
// parse (a damaged stretch). Follow does not check hashes; use Verify.
func Follow(ctx context.Context, path string, from uint64, fn func(Record)) error {
	fw := &follower{path: path, next: max(from, 1), fn: fn}
	defer fw.close()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if err := fw.poll(); err != nil {
			return fmt.Errorf("audit: follow %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

type follower struct {
	path string
	next uint64 // lowest seq not yet delivered
	fn   func(Record)
	f    *os.File // active file being tailed; nil before the first resync
	off  int64    // offset just past the last complete line consumed from f
}

func (fw *follower) close() {
	if fw.f != nil {
		fw.f.Close()
	}
}

// poll delivers what was appended since the last poll.
func (fw *follower) poll() error {
	if fw.f != nil {
		held, herr := fw.f.Stat()
		cur, cerr := os.Stat(fw.path)
		if herr == nil && cerr == nil && os.SameFile(held, cur) {
			off, err := fw.consume(fw.f, fw.off)
			fw.off = off
			return err
		}
		fw.f.Close()
		fw.f = nil
	}
	return fw.resync()
}

// resync finds the next record from scratch: under the shared lock it reads
// the rotated files that may hold seq >= next, then opens the active file
// and reads it to its end.
func (fw *follower) resync() error {
	unlock, err := sharedLock(fw.path)
	if err != nil {
		return err
	}
	defer unlock()
	rotated, err := rotatedFiles(fw.path)
	if err != nil {
		return err
	}
	start := 0 // the newest rotated file that starts at or before next
	for i := len(rotated) - 1; i > 0; i-- {
		if seq, err := firstSeq(rotated[i]); err == nil && seq <= fw.next {
			start = i
			break
		}
	}
	for _, name := range rotated[start:] {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		_, err = fw.consume(f, 0)
		f.Close()
		if err != nil {
			return err
		}
	}
	f, err := os.Open(fw.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not created yet; try again next poll
	}
	if err != nil {
		return err
	}
	fw.f = f
	fw.off, err = fw.consume(f, 0)
	return err
}

// consume delivers the complete records of f from off onwards and returns
// the offset after the last one. A final line without its newline is being
// written and is left for the next poll.
func (fw *follower) consume(f *os.File, off int64) (int64, error) {
	lr := &lineReader{br: bufio.NewReader(io.NewSectionReader(f, off, 1<<62))}
	for {
		line, _, err := lr.next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, errTruncated):
			return off + lr.off - int64(len(line)), nil // a torn tail is read again next poll
		case errors.Is(err, errLineTooLong):
			continue // damaged; sealed by the writer, reported by Verify
		case err != nil:
			return off, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		r, err := ParseRecord(line)
		if err != nil {
			continue // a damaged line: likewise
		}
		if r.Seq >= fw.next {
			fw.fn(r)
			fw.next = r.Seq + 1
		}
	}
}

// firstSeq returns the seq of the first record in the named file.
func firstSeq(name string) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := readLine(bufio.NewReader(f))
	if err != nil {
		return 0, err
	}
	r, err := ParseRecord(line)
	return r.Seq, err
}
