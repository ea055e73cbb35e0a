// The serial counter kept in a small file under the state directory.
package ca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// FileSerials keeps the last serial issued in a file. Next is safe for
// concurrent use, also by several processes on one host (flock), and the
// new value is fsynced before it is returned, so a crash never reissues one.
type FileSerials struct {
	Path string
	mu   sync.Mutex
}

// Next returns the next serial (the first is 1).
func (s *FileSerials) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return 0, err
	}
	lock, err := os.OpenFile(s.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("lock %s: %w", s.Path, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	last, err := s.read()
	if err != nil {
		return 0, err
	}
	next := last + 1
	if err := writeSynced(s.Path, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("serial file %s: %w", s.Path, err)
	}
	return next, nil
}

func (s *FileSerials) read() (uint64, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("serial file %s: %w", s.Path, err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// Never guess: restarting at 1 would reissue serials.
		return 0, fmt.Errorf("serial file %s is corrupt (%q): fix it by hand to a number above every serial in the audit log", s.Path, b)
	}
	return n, nil
}

// writeSynced replaces path with data: temp file, fsync, rename, fsync dir.
func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
