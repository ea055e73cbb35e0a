// The asciicast v2 reader: strict, bounded, tolerant only of a torn last line.
package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// MaxLine bounds one line of a recording; longer lines are corruption.
const MaxLine = 1 << 20

// Event is one recorded event.
type Event struct {
	Time float64 // seconds since the start
	Kind string  // Output, Input, Resize or Marker
	Data string
}

// Reader reads a recording.
type Reader struct {
	br     *bufio.Reader
	header Header
	line   int
	// Torn is set when the input ended inside a line (a crash mid-write);
	// Next then returned io.EOF for it.
	Torn bool
}

// NewReader reads and checks the header.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	line, err := rd.readLine()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("recording: empty, no header")
		}
		return nil, err
	}
	// Other writers add keys (idle_time_limit, theme): not an error.
	if err := strictUnmarshal(line, &rd.header, false); err != nil {
		return nil, fmt.Errorf("recording header: %w", err)
	}
	h := rd.header
	if h.Version != 2 {
		return nil, fmt.Errorf("recording header: version %d, want 2", h.Version)
	}
	if h.Width < 1 || h.Height < 1 || h.Width > 10000 || h.Height > 10000 {
		return nil, fmt.Errorf("recording header: bad size %dx%d", h.Width, h.Height)
	}
	return rd, nil
}

// Header is the recording's header.
func (r *Reader) Header() Header { return r.header }

// readLine returns the next complete line without its newline.
func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine+1 {
			return nil, fmt.Errorf("recording line %d: longer than %d bytes", r.line+1, MaxLine)
		}
		switch {
		case err == nil:
			r.line++
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(line) > 0 {
				r.Torn = true
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// Next returns the next event, or io.EOF at the end.
func (r *Reader) Next() (Event, error) {
	line, err := r.readLine()
	if err != nil {
		return Event{}, err
	}
	ev, err := ParseEvent(line)
	if err != nil {
		return Event{}, fmt.Errorf("recording line %d: %w", r.line, err)
	}
	return ev, nil
}

// ParseEvent parses one event line: [time, kind, data].
func ParseEvent(line []byte) (Event, error) {
	var raw []json.RawMessage
	if err := strictUnmarshal(line, &raw, true); err != nil {
		return Event{}, err
	}
	if len(raw) != 3 {
		return Event{}, fmt.Errorf("want [time, kind, data], got %d elements", len(raw))
	}
	var ev Event
	if err := json.Unmarshal(raw[0], &ev.Time); err != nil || ev.Time < 0 || math.IsInf(ev.Time, 0) || math.IsNaN(ev.Time) {
		return Event{}, errors.New("bad event time")
	}
	if err := json.Unmarshal(raw[1], &ev.Kind); err != nil {
		return Event{}, errors.New("bad event kind")
	}
	switch ev.Kind {
	case Output, Input, Resize, Marker:
	default:
		return Event{}, fmt.Errorf("unknown event kind %q", ev.Kind)
	}
	if err := json.Unmarshal(raw[2], &ev.Data); err != nil {
		return Event{}, errors.New("bad event data")
	}
	if !utf8.ValidString(ev.Data) {
		return Event{}, errors.New("event data is not UTF-8")
	}
	return ev, nil
}

// strictUnmarshal decodes exactly one JSON value with no trailing data.
func strictUnmarshal(b []byte, v any, noUnknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if noUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// ReadAll reads a whole recording into memory (for tests and --text).
func ReadAll(r io.Reader) (Header, []Event, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return rd.header, evs, nil
		}
		if err != nil {
			return rd.header, evs, err
		}
		evs = append(evs, ev)
	}
}
