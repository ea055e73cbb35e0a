// Readers of the whole log: Verify checks the chain, ReadAll returns it.

package audit

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// VerifyResult reports the outcome of Verify.
type VerifyResult struct {
	// Records counts the records found intact and chained.
	Records int
	// OK is true when every file was read to the end and every damaged
	// stretch (if any) is sealed by an audit.recovered record; Sealed lists
	// those, and callers must still report them.
	OK bool
	// BreakFile and BreakLine (1-based) locate the first break that no
	// audit.recovered record seals.
	BreakFile string
	BreakLine int
	// BreakSeq is the seq found on the breaking line, or the seq expected
	// there when the line could not be parsed.
	BreakSeq uint64
	// Reason says what is wrong at the break.
	Reason string
	// LastSeq is the seq of the last record of the chain; FirstSeq (set by
	// VerifyLines only) the seq of its first.
	LastSeq  uint64
	FirstSeq uint64
	// Keyed is true when a public key was given. Checkpoints counts the
	// validly signed checkpoints; SignedThrough is the seq of the last one
	// (it signs every record before it) and SignedAt its time; Unsigned
	// counts the records after it, which no signature covers yet.
	Keyed         bool
	Checkpoints   int
	SignedThrough uint64
	SignedAt      time.Time
	Unsigned      int
	// PrunedBefore is the first seq kept when retention deleted the oldest
	// files (an audit.pruned record accounts for them); 0 if none were.
	PrunedBefore uint64
	// Sealed lists the damaged stretches the writer skipped and sealed, in
	// log order. The chain continues intact after each.
	Sealed []Damage
}

// position locates a line in the log.
type position struct {
	file string
	line int
	off  int64
}

// Verify checks the chain through the rotated files (path.1, path.2, ...) and
// then path. It reports the first edited, deleted, inserted, reordered or torn
// record that is not sealed, and every sealed damaged stretch, in the result;
// the error is only for a log it could not read.
func Verify(path string) (VerifyResult, error) { return VerifyWith(path, VerifyOptions{}) }

// VerifyOptions add the keyed checks to Verify.
type VerifyOptions struct {
	// Key is the audit public key. With it every audit.checkpoint record
	// must carry a valid signature (a chain recomputed without the key
	// fails there), and the result says how far signatures cover the log.
	Key ed25519.PublicKey
	// Checkpoint, if set, is the latest checkpoint kept apart from the log
	// (the checkpoint file, or a copy shipped off the host): the log must
	// still hold that record, unchanged, or its tail was cut or rewritten.
	Checkpoint *Record
}

// VerifyWith is Verify with signed checkpoints checked (see VerifyOptions).
func VerifyWith(path string, o VerifyOptions) (VerifyResult, error) {
	if o.Checkpoint != nil && o.Key != nil && !checkSig(*o.Checkpoint, o.Key) {
		return VerifyResult{}, fmt.Errorf("audit: verify %s: the checkpoint file is not signed by audit key %s", path, KeyID(o.Key))
	}
	// Unanchored: the log may start after seq 1 when retention pruned it;
	// startAccounted checks that an audit.pruned record says so.
	c := &chain{tip: chainTip{Hash: zeroHash}, key: o.Key, anchor: o.Checkpoint}
	if err := walk(path, c.feed); err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify %s: %w", path, err)
	}
	res := VerifyResult{Records: c.records, Sealed: c.sealed, OK: true, Keyed: o.Key != nil,
		Checkpoints: c.checkpoints, Unsigned: c.sinceCP, LastSeq: c.tip.Seq}
	if cp := c.lastCP; cp != nil {
		res.SignedThrough, res.SignedAt = cp.Seq, cp.Time
	}
	brk := func(file string, line int, seq uint64, reason string) {
		if res.OK {
			res.OK, res.BreakFile, res.BreakLine, res.BreakSeq, res.Reason = false, file, line, seq, reason
		}
	}
	if d := c.open; d != nil {
		brk(d.File, d.Line, d.Seq, d.Reason)
	}
	if cp := c.badCP; cp != nil {
		brk(c.badCPAt.file, c.badCPAt.line, cp.Seq, fmt.Sprintf(
			"checkpoint signature does not verify with audit key %s: the records before it were changed and the chain recomputed", KeyID(o.Key)))
	}
	if a := o.Checkpoint; a != nil {
		switch {
		case c.anchorFound == nil && c.tip.Seq < a.Seq:
			brk(path, 0, a.Seq, fmt.Sprintf("the log ends at seq %d, but the checkpoint file signed seq %d at %s: records were cut off the end",
				c.tip.Seq, a.Seq, a.Time.UTC().Format(time.RFC3339)))
		case c.anchorFound == nil:
			brk(path, 0, a.Seq, fmt.Sprintf("the checkpoint file's record seq %d is not in the chain", a.Seq))
		case c.anchorFound.Hash != a.Hash:
			brk(path, 0, a.Seq, fmt.Sprintf("record seq %d differs from the signed checkpoint file: the log was rewritten", a.Seq))
		}
	}
	if c.first != nil && (c.first.Seq != 1 || c.first.Prev != zeroHash) {
		if !c.startAccounted() {
			res.OK = true // this break comes first in the log
			brk(c.firstAt.file, c.firstAt.line, c.first.Seq, fmt.Sprintf(
				"the log starts at seq %d and no audit.pruned record accounts for the records before it: they were deleted", c.first.Seq))
			res.Records = 0
		} else {
			res.PrunedBefore = c.first.Seq
		}
	}
	return res, nil
}

// ReadAll returns every record of the rotated files and path, oldest first.
// It fails on an unparsable line unless an audit.recovered record seals the
// stretch that holds it, but it does not check the chain; use Verify for that.
func ReadAll(path string) ([]Record, error) {
	var recs []Record
	var bad []position
	var badErr []error
	var recovered []Record
	var recFiles []string
	err := walk(path, func(at position, line []byte, lineErr error) {
		r, err := ParseRecord(line)
		if lineErr != nil {
			err = lineErr
		}
		if err != nil {
			bad, badErr = append(bad, at), append(badErr, err)
			return
		}
		if r.Type == TypeRecovered {
			recovered, recFiles = append(recovered, r), append(recFiles, at.file)
		}
		recs = append(recs, r)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", path, err)
	}
	for i, at := range bad {
		if !sealedBy(recovered, recFiles, at) {
			return nil, fmt.Errorf("audit: read %s: %s:%d: %w", path, at.file, at.line, badErr[i])
		}
	}
	return recs, nil
}

// walk calls fn for each line of the log's files in order, holding the
// shared lock. lineErr is errTruncated or errLineTooLong for a damaged line;
// the walk goes on after it. A missing active file is fine if rotated files
// exist.
func walk(path string, fn func(at position, line []byte, lineErr error)) error {
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

func walkFile(name string, fn func(at position, line []byte, lineErr error)) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	lr := &lineReader{br: bufio.NewReader(f)}
	for n := 1; ; n++ {
		line, off, err := lr.next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err == nil, errors.Is(err, errTruncated), errors.Is(err, errLineTooLong):
			fn(position{name, n, off}, line, err)
		default:
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
}
