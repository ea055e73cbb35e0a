// Retention of rotated files, the free-space watch, and the counters a
// metric can read.

package audit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// TypePruned is the record that says which rotated files retention deleted
// and where the remaining log starts, so Verify can tell pruning from an
// attacker deleting the oldest records.
const TypePruned = "audit.pruned"

// Stats are counters and gauges of a Log, for metrics.
type Stats struct {
	// Appends and Bytes count the records and bytes this Log wrote.
	Appends, Bytes uint64
	// Sealed counts damaged tails sealed, Pruned rotated files deleted.
	Sealed, Pruned uint64
	// FreeBytes is the free space of the log's file system at the last
	// append (0 before the first); LowDisk is true while it is below
	// Options.DiskWarn.
	FreeBytes uint64
	LowDisk   bool
}

type stats struct {
	appends, bytes, sealed, pruned, free atomic.Uint64
	low                                  atomic.Bool
	lastWarn                             atomic.Int64 // unix nanoseconds
}

// Stats returns the current counters. Safe to call at any time.
func (l *Log) Stats() Stats {
	s := &l.stats
	return Stats{Appends: s.appends.Load(), Bytes: s.bytes.Load(), Sealed: s.sealed.Load(), Pruned: s.pruned.Load(),
		FreeBytes: s.free.Load(), LowDisk: s.low.Load()}
}

// freeSpace returns the bytes available to us on dir's file system. Tests
// replace it.
var freeSpace = func(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

const diskWarnEvery = 10 * time.Minute

// checkDisk updates the free-space gauge and warns when it is low.
func (l *Log) checkDisk() {
	free, err := freeSpace(filepath.Dir(l.path))
	if err != nil {
		return
	}
	l.stats.free.Store(free)
	low := l.opt.DiskWarn > 0 && free < uint64(l.opt.DiskWarn)
	l.stats.low.Store(low)
	if !low || l.opt.Warn == nil {
		return
	}
	now := l.opt.Now()
	if last := l.stats.lastWarn.Load(); last != 0 && now.Sub(time.Unix(0, last)) < diskWarnEvery {
		return
	}
	l.stats.lastWarn.Store(now.UnixNano())
	l.opt.Warn("audit log: disk space low; logins are refused once the log cannot be written",
		"path", l.path, "free_bytes", free, "warn_below", l.opt.DiskWarn)
}

// prune deletes the rotated files retention no longer keeps, oldest first,
// never the newest, and returns the audit.pruned event to chain (nil if
// nothing was deleted). Caller holds both locks.
func (l *Log) prune() (*Event, error) {
	if l.opt.RetainAge <= 0 && l.opt.RetainSize <= 0 {
		return nil, nil
	}
	rotated, err := rotatedFiles(l.path)
	if err != nil || len(rotated) < 2 {
		return nil, err
	}
	sizes := make([]int64, len(rotated))
	mtimes := make([]time.Time, len(rotated))
	var total int64
	for i, name := range rotated {
		st, err := os.Stat(name)
		if err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
		sizes[i], mtimes[i], total = st.Size(), st.ModTime(), total+st.Size()
	}
	now := l.opt.Now()
	var gone, reasons []string
	var bytes int64
	for i, name := range rotated[:len(rotated)-1] {
		reason := ""
		switch {
		case l.opt.RetainSize > 0 && total > l.opt.RetainSize:
			reason = "size"
		case l.opt.RetainAge > 0 && now.Sub(mtimes[i]) > l.opt.RetainAge:
			reason = "age"
		}
		if reason == "" {
			break
		}
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("retention: %w", err)
		}
		gone, bytes, total = append(gone, filepath.Base(name)), bytes+sizes[i], total-sizes[i]
		if len(reasons) == 0 || reasons[len(reasons)-1] != reason {
			reasons = append(reasons, reason)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return nil, fmt.Errorf("retention: sync dir: %w", err)
	}
	first := rotated[len(gone)]
	f, err := os.Open(first)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer f.Close()
	fields := map[string]string{"files": strings.Join(gone, ","), "reason": strings.Join(reasons, ","), "now_first_file": filepath.Base(first)}
	num := map[string]int64{"count": int64(len(gone)), "bytes": bytes}
	if r, err := ParseRecord(firstLine(f)); err == nil {
		num["now_first_seq"], fields["now_first_prev"] = int64(r.Seq), r.Prev
	}
	l.stats.pruned.Add(uint64(len(gone)))
	if l.opt.Warn != nil {
		l.opt.Warn("audit log: retention deleted rotated files", "files", fields["files"], "bytes", bytes, "reason", fields["reason"])
	}
	e := sanitize(Event{Type: TypePruned, Result: "ok", Fields: fields, Num: num})
	return &e, nil
}

// firstLine returns the first line of f, or nil.
func firstLine(f *os.File) []byte {
	line, err := readLine(bufio.NewReader(f))
	if err != nil {
		return nil
	}
	return line
}
