// The asciicast v2 writer.
package recording

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Header is the first line of an asciicast v2 file.
type Header struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Command   string            `json:"command,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Event kinds.
const (
	Output = "o"
	Input  = "i"
	Resize = "r"
	Marker = "m"
)

// ErrCapped is returned once the recording reached Options.MaxSize; nothing
// more is written after it.
var ErrCapped = errors.New("recording size cap reached")

// Options tune a Writer. The zero value is valid.
type Options struct {
	// MaxSize caps the file in bytes; 0 means no cap.
	MaxSize int64
	// FlushEvery bounds how long written events may sit in memory; 0 means 1s.
	FlushEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Summary identifies a finished recording for the audit log.
type Summary struct {
	Size   int64
	SHA256 string
	Capped bool
}

// Writer appends events to one recording. It is safe for concurrent use.
type Writer struct {
	opt   Options
	start time.Time

	mu      sync.Mutex
	f       *os.File
	pending bytes.Buffer // complete lines not yet written
	carry   map[string][]byte
	sum     hash.Hash
	size    int64
	capped  bool
	err     error // sticky write error
	stop    chan struct{}
	done    chan struct{}
}

// Create makes the file name inside root (it must not exist) and writes the
// header. The caller must Close the Writer.
func Create(root *os.Root, name string, h Header, opt Options) (*Writer, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = time.Second
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording %s: %w", name, err)
	}
	w := &Writer{opt: opt, start: opt.Now(), f: f, carry: map[string][]byte{}, sum: sha256.New(),
		stop: make(chan struct{}), done: make(chan struct{})}
	h.Version = 2
	if h.Timestamp == 0 {
		h.Timestamp = w.start.Unix()
	}
	line, err := json.Marshal(h)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.mu.Lock()
	w.enqueue(append(line, '\n'))
	err = w.flushLocked(true)
	w.mu.Unlock()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write recording %s: %w", name, err)
	}
	go w.flusher()
	return w, nil
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.opt.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			w.flushLocked(true)
			w.mu.Unlock()
		}
	}
}

// Output records bytes the session showed.
func (w *Writer) Output(p []byte) error { return w.data(Output, p) }

// Input records bytes the user typed.
func (w *Writer) Input(p []byte) error { return w.data(Input, p) }

// Resize records a terminal size change.
func (w *Writer) Resize(cols, rows int) error {
	return w.event(Resize, strconv.Itoa(cols)+"x"+strconv.Itoa(rows))
}

// Mark records a marker (asciinema shows it as a chapter), e.g. the exit status.
func (w *Writer) Mark(label string) error { return w.event(Marker, label) }

// data records p, holding back an incomplete UTF-8 sequence at its end for
// the next call of the same kind (JSON strings are text).
func (w *Writer) data(kind string, p []byte) error {
	w.mu.Lock()
	buf := append(w.carry[kind], p...)
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	w.carry[kind] = append([]byte(nil), buf[cut:]...)
	w.mu.Unlock()
	if cut == 0 {
		return nil
	}
	return w.event(kind, string(buf[:cut]))
}

func (w *Writer) event(kind, data string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.capped {
		return ErrCapped
	}
	t := w.opt.Now().Sub(w.start).Seconds()
	ev, err := json.Marshal([]any{json.Number(strconv.FormatFloat(max(t, 0), 'f', 6, 64)), kind, data})
	if err != nil {
		return err
	}
	ev = append(ev, '\n')
	if w.opt.MaxSize > 0 && w.size+int64(len(ev)) > w.opt.MaxSize {
		w.capped = true
		w.flushLocked(true)
		return ErrCapped
	}
	w.enqueue(ev)
	return w.flushLocked(false)
}

func (w *Writer) enqueue(line []byte) {
	w.pending.Write(line)
	w.sum.Write(line)
	w.size += int64(len(line))
}

// flushLocked writes the pending complete lines when forced or when they
// have grown past 32 KiB; the ticker forces it at least once a period.
func (w *Writer) flushLocked(force bool) error {
	if w.err != nil {
		return w.err
	}
	if w.pending.Len() == 0 || (!force && w.pending.Len() < 32<<10) {
		return nil
	}
	if _, err := w.f.Write(w.pending.Bytes()); err != nil {
		w.err = fmt.Errorf("write recording: %w", err)
		return w.err
	}
	w.pending.Reset()
	if force {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("sync recording: %w", err)
			return w.err
		}
	}
	return nil
}

// Err is the first write error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close flushes what is pending, closes the file and returns its size and
// SHA-256 (of the bytes in the file).
func (w *Writer) Close() (Summary, error) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked(true)
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return Summary{Size: w.size, SHA256: hex.EncodeToString(w.sum.Sum(nil)), Capped: w.capped}, err
}
