// Recovery: a damaged tail is sealed, not a permanent outage.

package audit

import (
	"fmt"
	"os"
	"path/filepath"
)

// seal handles a tail that cannot be chained onto (cause wraps ErrCorrupt):
// a torn write, a disk error, an edit. It finds the first break in the file
// that holds the last record (the active file, or the newest rotated one
// when the active file is empty), chains an audit.recovered record onto the
// last intact record before it, naming the file, offset, length and SHA-256
// of the bytes it skips, and returns the new size of the active file and
// the new tip. The skipped bytes stay in place as evidence, and Verify
// reports them as sealed damage. Caller holds both locks.
func (l *Log) seal(cause error) (int64, chainTip, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, chainTip{}, err
	}
	size := st.Size()
	c := &chain{tip: chainTip{Hash: zeroHash}}
	damaged := l.path
	rotated, err := rotatedFiles(l.path)
	if err != nil {
		return 0, chainTip{}, err
	}
	switch {
	case size == 0 && len(rotated) > 0:
		damaged = rotated[len(rotated)-1]
	case size > 0 && len(rotated) > 0:
		if tip, found, err := lastRecordOf(rotated[len(rotated)-1]); err == nil && found {
			c.tip, c.anchored = tip, true
		}
	default:
		c.anchored = true // the first file: the chain starts at zero
	}
	if err := walkFile(damaged, c.feed); err != nil {
		return 0, chainTip{}, fmt.Errorf("%w (and reading it to seal it: %w)", cause, err)
	}
	d := c.open
	if d == nil {
		return 0, chainTip{}, cause // the tail reads fine now: nothing to seal
	}
	dst, err := os.Stat(damaged)
	if err != nil {
		return 0, chainTip{}, err
	}
	length := dst.Size() - d.Offset
	sum, _, err := hashRange(damaged, d.Offset, length)
	if err != nil {
		return 0, chainTip{}, err
	}
	if damaged == l.path && byteAt(damaged, dst.Size()-1) != '\n' {
		// A torn line: end it, so the seal starts on a line of its own.
		if err := l.write([]byte("\n"), size); err != nil {
			return 0, chainTip{}, err
		}
		size++
	}
	r := Record{Seq: c.tip.Seq + 1, V: Version, Time: l.opt.Now().UTC(), Prev: c.tip.Hash, Event: sanitize(Event{
		Type: TypeRecovered, Result: "fail",
		Fields: map[string]string{"file": filepath.Base(damaged), "sha256": sum, "reason": d.Reason},
		Num:    map[string]int64{"offset": d.Offset, "length": length, "line": int64(d.Line)},
	})}
	r.Hash = hashOf(r)
	line := encodeLine(r)
	if err := l.write(line, size); err != nil {
		return 0, chainTip{}, err
	}
	l.stats.sealed.Add(1)
	if l.opt.Warn != nil {
		l.opt.Warn("audit log: sealed a damaged tail and continued the chain; run `bastion audit verify`",
			"file", damaged, "offset", d.Offset, "length", length, "sha256", sum, "reason", d.Reason, "seq", r.Seq)
	}
	return size + int64(len(line)), chainTip{Seq: r.Seq, Hash: r.Hash}, nil
}
