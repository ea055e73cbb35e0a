// Readers of the whole log: Verify checks the chain, ReadAll returns it.

package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// VerifyResult reports the outcome of Verify.
type VerifyResult struct {
	// Records counts the records checked and found intact, up to the first break.
	Records int
	// OK is true when every file was read to the end without a break.
	OK bool
	// BreakFile and BreakLine (1-based) locate the first break.
	BreakFile string
	BreakLine int
	// BreakSeq is the seq found on the breaking line, or the seq expected
	// there when the line could not be parsed.
	BreakSeq uint64
	// Reason says what is wrong at the break.
	Reason string
}

// position locates a line in the log.
type position struct {
	file string
	line int
}

// errStop ends a walk early without being an error.
var errStop = errors.New("stop")

// Verify checks the chain through the rotated files (path.1, path.2, ...) and
// then path. It reports the first edited, deleted, inserted, reordered or torn
// record in the result; the error is only for a log it could not read.
func Verify(path string) (VerifyResult, error) {
	var res VerifyResult
	tip := chainTip{Hash: zeroHash}
	err := walk(path, func(at position, line []byte, lineErr error) error {
		brk := func(seq uint64, reason string) error {
			res.BreakFile, res.BreakLine, res.BreakSeq, res.Reason = at.file, at.line, seq, reason
			return errStop
		}
		want := tip.Seq + 1
		if lineErr != nil {
			return brk(want, lineErr.Error())
		}
		r, err := ParseRecord(line)
		switch {
		case err != nil:
			return brk(want, "unparsable record: "+err.Error())
		case hashOf(r) != r.Hash:
			return brk(r.Seq, "hash mismatch: the record was altered")
		case r.Seq != want:
			return brk(r.Seq, fmt.Sprintf("seq %d where %d was expected: a record was deleted, inserted or moved", r.Seq, want))
		case r.Prev != tip.Hash:
			return brk(r.Seq, "prev does not match the hash of the record before")
		}
		tip = chainTip{Seq: r.Seq, Hash: r.Hash}
		res.Records++
		return nil
	})
	if errors.Is(err, errStop) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("audit: verify %s: %w", path, err)
	}
	res.OK = true
	return res, nil
}

// ReadAll returns every record of the rotated files and path, oldest first.
// It fails on the first unparsable line but does not check the chain; use
// Verify for that.
func ReadAll(path string) ([]Record, error) {
	var recs []Record
	err := walk(path, func(at position, line []byte, lineErr error) error {
		r, err := ParseRecord(line)
		if lineErr != nil {
			err = lineErr
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", at.file, at.line, err)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", path, err)
	}
	return recs, nil
}

// walk calls fn for each line of the log's files in order, holding the
// shared lock. lineErr is errTruncated or errLineTooLong for a damaged line,
// after which the walk stops. A missing active file is fine if rotated
// files exist.
func walk(path string, fn func(at position, line []byte, lineErr error) error) error {
	unlock, err := sharedLock(path)
	if err != nil {
		return err
	}
	defer unlock()
	files, err := rotatedFiles(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, fs.ErrNotExist) || len(files) == 0 {
		return err
	}
	for _, name := range files {
		if err := walkFile(name, fn); err != nil {
			return err
		}
	}
	return nil
}

func walkFile(name string, fn func(at position, line []byte, lineErr error) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := readLine(br)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errTruncated), errors.Is(err, errLineTooLong):
			if ferr := fn(position{name, n}, line, err); ferr != nil {
				return ferr
			}
			return fmt.Errorf("%s:%d: %w", name, n, err)
		case err != nil:
			return fmt.Errorf("read %s: %w", name, err)
		}
		if err := fn(position{name, n}, line, nil); err != nil {
			return err
		}
	}
}
