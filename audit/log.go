// The writer: Open, Append with cross-process locking, rotation, Close.

package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var (
	// ErrClosed is returned by Append on a closed Log.
	ErrClosed = errors.New("audit: log is closed")
	// ErrCorrupt marks a tail of the log that cannot be chained onto (a torn
	// or altered last record). Append does not return it: it seals the
	// damage with an audit.recovered record and goes on (see seal).
	ErrCorrupt = errors.New("audit: log tail is corrupt")
)

// openFile opens the active file for reading its tail and appending.
// Tests replace it to inject failures.
var openFile = func(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
}

// syncFile flushes f to stable storage. Tests replace it to observe or fail the fsync.
var syncFile = (*os.File).Sync

// Options tune a Log. The zero value is valid.
type Options struct {
	// MaxSize rotates the active file before a record would make it larger
	// than MaxSize bytes. Zero never rotates. A record larger than MaxSize is
	// still written, alone in a fresh file.
	MaxSize int64
	// Now supplies record times. Nil means time.Now.
	Now func() time.Time
	// Warn, if set, is told about what an operator must know but that does
	// not fail the append: a damaged tail that was sealed, files pruned,
	// a disk running low. The package never logs by itself.
	Warn func(msg string, args ...any)
	// RetainAge and RetainSize bound the rotated files kept: at each
	// rotation (and at Open) the oldest rotated files are deleted while one
	// is older than RetainAge or all of them together exceed RetainSize
	// bytes; the newest rotated file is always kept. Each deletion is
	// recorded as an audit.pruned record. Zero means no bound.
	RetainAge  time.Duration
	RetainSize int64
	// DiskWarn: when the file system holding the log has fewer free bytes
	// than this after an append, Stats reports LowDisk and Warn is called
	// (at most every 10 minutes), well before a full disk refuses logins.
	// Zero never warns.
	DiskWarn int64
	// Key, if set, signs the chain: after every CheckpointEvery records
	// (DefaultCheckpointEvery if 0) and on Checkpoint, an audit.checkpoint
	// record with an ed25519 signature of everything before it is appended,
	// and copied to CheckpointFile (if set), which Verify compares with the
	// log to detect a cut tail. Keep the key apart from the log.
	Key             ed25519.PrivateKey
	CheckpointEvery int
	CheckpointFile  string
	// Mirror, if set, is called with every record (and its stored line,
	// newline included) right after it is durably written, holding the
	// log's lock, so calls come in seq order. An error undoes the line
	// (the file is cut back and fsynced) and fails the append: a copy
	// that cannot be written fails closed like the file itself.
	Mirror func(r Record, line []byte) error
}

// Log appends records to the audit log at one path. It is safe for
// concurrent use, also alongside other processes appending to the same path.
type Log struct {
	path string
	opt  Options

	stats stats // counters a metric can read; see Stats

	mu   sync.Mutex // serializes appends within the process; guards below
	lock *os.File   // sidecar lock file, flocked around each append; nil once closed
	f    *os.File   // active file; reopened when another process rotated it
	// dirty: records were appended since this Log's last checkpoint.
	dirty bool
}

// chainTip is what the next record chains onto.
type chainTip struct {
	Seq  uint64
	Hash string
}

// Open opens the audit log at path for appending, creating the file (mode
// 0600) and its parent directory (0700) if missing.
func Open(path string, opt Options) (*Log, error) {
	if opt.MaxSize < 0 {
		return nil, fmt.Errorf("audit: open %s: negative MaxSize %d", path, opt.MaxSize)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = DefaultCheckpointEvery
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	l := &Log{path: path, opt: opt, lock: lock}
	if err := l.locked(l.openAndPrune); err != nil {
		lock.Close()
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return l, nil
}

// openAndPrune opens the active file and applies retention, so a log that
// rarely rotates still drops files past RetainAge. Caller holds the lock.
func (l *Log) openAndPrune() error {
	if err := l.openActive(); err != nil {
		return err
	}
	if l.opt.RetainAge <= 0 && l.opt.RetainSize <= 0 {
		return nil
	}
	size, tip, err := l.tail()
	if err != nil {
		return nil // a damaged tail is sealed by the next Append, which prunes later
	}
	pruned, err := l.prune()
	if err != nil || pruned == nil {
		return err
	}
	_, _, err = l.writeEvent(*pruned, size, tip)
	return err
}

// Append adds e to the log. It returns only after the record is written and
// fsynced; any failure (lock, read, write, fsync) is returned. Every string
// of e is first bounded and made valid UTF-8 (see sanitize), so the record
// always reads back; an over-long value is cut with a marker, never dropped.
func (l *Log) Append(e Event) error {
	switch e.Type {
	case "":
		return errors.New("audit: append: event has no type")
	case TypeCheckpoint, TypeRecovered, TypePruned:
		return fmt.Errorf("audit: append: %s records are written by the log itself", e.Type)
	}
	e = sanitize(e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return ErrClosed
	}
	if err := l.locked(func() error { return l.appendLocked(e) }); err != nil {
		return fmt.Errorf("audit: append %s to %s: %w", e.Type, l.path, err)
	}
	return nil
}

// Close releases the files. Appending after Close returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return nil
	}
	var err error
	if l.f != nil {
		err = l.f.Close()
	}
	err = errors.Join(err, l.lock.Close())
	l.f, l.lock = nil, nil
	return err
}

// locked runs fn holding the exclusive cross-process lock.
func (l *Log) locked(fn func() error) (err error) {
	if err := flock(l.lock, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", l.lock.Name(), err)
	}
	defer func() {
		if uerr := flock(l.lock, unix.LOCK_UN); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unlock %s: %w", l.lock.Name(), uerr))
		}
	}()
	return fn()
}

// activeTail opens the active file and returns its size and chain tip,
// sealing a damaged tail first. Caller holds both locks.
func (l *Log) activeTail() (int64, chainTip, error) {
	if err := l.openActive(); err != nil {
		return 0, chainTip{}, err
	}
	size, tip, err := l.tail()
	if errors.Is(err, ErrCorrupt) {
		return l.seal(err)
	}
	return size, tip, err
}

// appendLocked chains e onto the current tail and writes it. Caller holds both locks.
func (l *Log) appendLocked(e Event) error {
	size, tip, err := l.activeTail()
	if err != nil {
		return err
	}
	r := l.record(e, tip)
	line := encodeLine(r)
	if l.opt.MaxSize > 0 && size > 0 && size+int64(len(line)) > l.opt.MaxSize {
		if err := l.rotate(); err != nil {
			return err
		}
		size = 0
		if pruned, err := l.prune(); err != nil {
			return err
		} else if pruned != nil {
			if size, tip, err = l.writeEvent(*pruned, size, tip); err != nil {
				return err
			}
			r = l.record(e, tip)
			line = encodeLine(r)
		}
	}
	if err := l.write(line, size); err != nil {
		return err
	}
	l.dirty = true
	if l.opt.Key != nil && r.Seq%uint64(l.opt.CheckpointEvery) == 0 {
		if _, _, err := l.writeCheckpoint(size+int64(len(line)), chainTip{Seq: r.Seq, Hash: r.Hash}); err != nil {
			return err
		}
	}
	l.checkDisk()
	return nil
}

// record returns e chained onto tip.
func (l *Log) record(e Event, tip chainTip) Record {
	r := Record{Seq: tip.Seq + 1, V: Version, Time: l.opt.Now().UTC(), Prev: tip.Hash, Event: e}
	r.Hash = hashOf(r)
	return r
}

// writeEvent chains e (already sanitized) onto tip, writes it and returns
// the new size and tip.
func (l *Log) writeEvent(e Event, size int64, tip chainTip) (int64, chainTip, error) {
	r := l.record(e, tip)
	line := encodeLine(r)
	if err := l.write(line, size); err != nil {
		return 0, chainTip{}, err
	}
	return size + int64(len(line)), chainTip{Seq: r.Seq, Hash: r.Hash}, nil
}

// write appends line to the active file (size bytes long) and fsyncs it.
func (l *Log) write(line []byte, size int64) error {
	if _, err := l.f.Write(line); err != nil {
		// Cut off a partial line so that later appends can still chain.
		if terr := l.f.Truncate(size); terr != nil {
			err = errors.Join(err, fmt.Errorf("truncate after failed write: %w", terr))
		}
		return fmt.Errorf("write: %w", err)
	}
	if err := syncFile(l.f); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	if err := l.mirror(line, size); err != nil {
		return err
	}
	l.stats.appends.Add(1)
	l.stats.bytes.Add(uint64(len(line)))
	return nil
}

// openActive makes l.f the file now at l.path, creating it if missing.
// Another process may have rotated away the file l.f refers to.
func (l *Log) openActive() error {
	if l.f != nil {
		held, herr := l.f.Stat()
		cur, cerr := os.Stat(l.path)
		if herr == nil && cerr == nil && os.SameFile(held, cur) {
			return nil
		}
		l.f.Close()
		l.f = nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		f.Close()
		return fmt.Errorf("sync dir: %w", err)
	}
	l.f = f
	return nil
}

// tail returns the active file's size and the last record of the chain,
// looking into rotated files when the active file is empty.
func (l *Log) tail() (int64, chainTip, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, chainTip{}, err
	}
	tip, found, err := lastRecord(l.f, st.Size())
	if err != nil || found {
		return st.Size(), tip, err
	}
	rotated, err := rotatedFiles(l.path)
	if err != nil {
		return 0, chainTip{}, err
	}
	for i := len(rotated) - 1; i >= 0; i-- {
		tip, found, err := lastRecordOf(rotated[i])
		if err != nil || found {
			return st.Size(), tip, err
		}
	}
	return st.Size(), chainTip{Hash: zeroHash}, nil
}

// lastRecord reads and checks the final record of f; found is false if f is empty.
func lastRecord(f *os.File, size int64) (tip chainTip, found bool, err error) {
	line, err := lastLine(f, size)
	if err != nil {
		return chainTip{}, false, fmt.Errorf("%w: %s: %w", ErrCorrupt, f.Name(), err)
	}
	if line == nil {
		return chainTip{}, false, nil
	}
	r, err := ParseRecord(line)
	if err == nil && hashOf(r) != r.Hash {
		err = errors.New("hash mismatch")
	}
	if err != nil {
		return chainTip{}, false, fmt.Errorf("%w: %s: last record: %w", ErrCorrupt, f.Name(), err)
	}
	return chainTip{Seq: r.Seq, Hash: r.Hash}, true, nil
}

func lastRecordOf(name string) (chainTip, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return chainTip{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return chainTip{}, false, err
	}
	return lastRecord(f, st.Size())
}

// rotate renames the active file to the next path.N and opens a fresh one.
func (l *Log) rotate() error {
	nums, err := rotatedNumbers(l.path)
	if err != nil {
		return err
	}
	next := 1
	if len(nums) > 0 {
		next = nums[len(nums)-1] + 1
	}
	if err := os.Rename(l.path, rotatedName(l.path, next)); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	l.f.Close()
	l.f = nil
	return l.openActive() // also fsyncs the directory, making the rename durable
}

// mirror hands line (a record, not the lone newline that ends a torn line)
// to Options.Mirror; on failure it cuts line off the file again.
func (l *Log) mirror(line []byte, size int64) error {
	if l.opt.Mirror == nil || len(line) <= 1 {
		return nil
	}
	r, err := ParseRecord(line)
	if err == nil {
		err = l.opt.Mirror(r, line)
	}
	if err == nil {
		return nil
	}
	if terr := l.f.Truncate(size); terr != nil {
		err = errors.Join(err, fmt.Errorf("truncate after failed mirror: %w", terr))
	} else if serr := syncFile(l.f); serr != nil {
		err = errors.Join(err, fmt.Errorf("fsync after failed mirror: %w", serr))
	}
	return fmt.Errorf("mirror: %w", err)
}
