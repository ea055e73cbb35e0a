// The chain check shared by Verify and the writer's recovery, including
// damaged stretches sealed by audit.recovered records.

package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TypeRecovered is the type of the record the writer appends when it finds
// a damaged tail: it names the file, offset, length and SHA-256 of the bytes
// it skipped, and the chain continues from the last intact record.
const TypeRecovered = "audit.recovered"

// Damage is a stretch of a log file that is not part of the chain.
type Damage struct {
	// File is the path of the file, Line (1-based) and Offset where the
	// stretch starts.
	File   string
	Line   int
	Offset int64
	// Seq is the seq found on the first damaged line, or the one expected.
	Seq uint64
	// Reason says what is wrong with the first damaged line.
	Reason string
	// Length and SHA256 describe the skipped bytes, and SealSeq is the seq
	// of the audit.recovered record that seals them; zero while unsealed.
	Length  int64
	SHA256  string
	SealSeq uint64
}

// chain follows the records in log order.
type chain struct {
	tip      chainTip
	anchored bool // false: take the first record's seq and prev as given
	records  int
	open     *Damage // a break not (yet) sealed
	sealed   []Damage
	first    *Record // the first record accepted
	pruned   *Record // the last audit.pruned record accepted
	firstAt  position

	// Signed checkpoints, checked when key is set.
	key         ed25519.PublicKey
	checkpoints int      // valid ones
	lastCP      *Record  // the last valid one
	sinceCP     int      // records accepted after it (or from the start)
	badCP       *Record  // the first one whose signature fails
	badCPAt     position //
	anchor      *Record  // the checkpoint file's record, to find in the log
	anchorFound *Record  // the record at anchor.Seq, if the chain has it
}

// feed takes the next line of the log.
func (c *chain) feed(at position, line []byte, lineErr error) {
	var r Record
	err := lineErr
	if err == nil {
		r, err = ParseRecord(line)
		if err != nil {
			err = fmt.Errorf("unparsable record: %w", err)
		}
	}
	seq := c.tip.Seq + 1
	if err == nil {
		seq = r.Seq
		switch {
		case hashOf(r) != r.Hash:
			err = fmt.Errorf("hash mismatch: the record was altered")
		case !c.anchored:
		case r.Seq != c.tip.Seq+1:
			err = fmt.Errorf("seq %d where %d was expected: a record was deleted, inserted or moved", r.Seq, c.tip.Seq+1)
		case r.Prev != c.tip.Hash:
			err = fmt.Errorf("prev does not match the hash of the record before")
		}
	}
	if c.open != nil {
		if err == nil && r.Type == TypeRecovered && c.seals(c.open, r, at) {
			d := *c.open
			d.Length = r.Num["length"]
			d.SHA256, d.SealSeq = r.Fields["sha256"], r.Seq
			c.sealed = append(c.sealed, d)
			c.open = nil
			c.accept(r, at)
		}
		return // inside the damaged stretch
	}
	if err != nil {
		c.open = &Damage{File: at.file, Line: at.line, Offset: at.off, Seq: seq, Reason: err.Error()}
		return
	}
	c.accept(r, at)
}

func (c *chain) accept(r Record, at position) {
	if c.first == nil {
		c.first, c.firstAt = &r, at
	}
	if r.Type == TypePruned {
		c.pruned = &r
	}
	c.sinceCP++
	if r.Type == TypeCheckpoint && c.key != nil {
		switch {
		case checkSig(r, c.key):
			c.checkpoints, c.lastCP, c.sinceCP = c.checkpoints+1, &r, 0
		case c.badCP == nil:
			c.badCP, c.badCPAt = &r, at
		}
	}
	if c.anchor != nil && r.Seq == c.anchor.Seq {
		c.anchorFound = &r
	}
	c.tip, c.anchored = chainTip{Seq: r.Seq, Hash: r.Hash}, true
	c.records++
}

// startAccounted reports whether the log starts where it should: at seq 1,
// or where the last audit.pruned record says retention left it.
func (c *chain) startAccounted() bool {
	if c.first == nil || c.first.Seq == 1 && c.first.Prev == zeroHash {
		return true
	}
	p := c.pruned
	return p != nil && p.Num["now_first_seq"] == int64(c.first.Seq) && p.Fields["now_first_prev"] == c.first.Prev
}

// seals reports whether r, found at at, is the audit.recovered record for d:
// it names d's file and offset, starts right after the stretch (or after
// the one newline the writer adds to a torn line, or at the start of the
// next file when the stretch ran to the end of its file), and the SHA-256
// of the stretch matches.
func (c *chain) seals(d *Damage, r Record, at position) bool {
	f := r.Fields
	length, ok := r.Num["length"]
	if !ok || length < 0 || !sameFile(f["file"], d.File, at.file) || r.Num["offset"] != d.Offset {
		return false
	}
	end := d.Offset + length
	sum, size, err := hashRange(d.File, d.Offset, length)
	if err != nil || sum != f["sha256"] {
		return false
	}
	if at.file != d.File {
		return at.off == 0 && end == size
	}
	return at.off == end || at.off == end+1 && byteAt(d.File, end) == '\n'
}

// sameFile reports whether the file a recovered record names (its base name
// when it was written) is damaged, the file the record was found in being
// recFile. A record in the damaged file itself seals it whatever the file is
// called now: rotation renames the active file.
func sameFile(named, damaged, recFile string) bool {
	return recFile == damaged || named == filepath.Base(damaged)
}

// hashRange returns the hex SHA-256 of name[off:off+n] and the file size.
func hashRange(name string, off, n int64) (string, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if off+n > st.Size() {
		return "", st.Size(), fmt.Errorf("range past the end of %s", name)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), st.Size(), nil
}

func byteAt(name string, off int64) byte {
	f, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return 0
	}
	return b[0]
}

// sealedBy reports whether one of the audit.recovered records, found in
// the files recFiles name, covers at.
func sealedBy(recovered []Record, recFiles []string, at position) bool {
	for i, r := range recovered {
		if !sameFile(r.Fields["file"], at.file, recFiles[i]) {
			continue
		}
		off, n := r.Num["offset"], r.Num["length"]
		if at.off >= off && at.off < off+n {
			return true
		}
	}
	return false
}
