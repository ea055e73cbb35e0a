// Review: plain-text transcripts, search, and timed playback.
package recording

import (
	"context"
	"io"
	"strings"
	"time"
)

// Plain turns terminal output into plain text: escape sequences (CSI, OSC,
// DCS and two-byte ones) and control characters other than newline and tab
// are removed, CR LF becomes LF. It keeps state across Write calls, so a
// sequence split between two events is still removed.
type Plain struct {
	w     io.Writer
	state int
}

const (
	sText      = iota
	sEsc       // after ESC
	sCSI       // ESC [ ... final byte 0x40-0x7e
	sString    // OSC, DCS, APC, PM, SOS: until BEL or ESC \
	sStringEsc // ESC inside a string
)

// NewPlain writes plain text to w.
func NewPlain(w io.Writer) *Plain { return &Plain{w: w} }

func (p *Plain) Write(b []byte) (int, error) {
	var out strings.Builder
	s := string(b)
	for _, r := range s {
		switch p.state {
		case sText:
			switch {
			case r == 0x1b:
				p.state = sEsc
			case r == 0x9b: // 8-bit CSI
				p.state = sCSI
			case r == '\n' || r == '\t':
				out.WriteRune(r)
			case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
				// CR, BS, BEL and other controls: dropped
			default:
				out.WriteRune(r)
			}
		case sEsc:
			switch r {
			case '[':
				p.state = sCSI
			case ']', 'P', '_', '^', 'X':
				p.state = sString
			default:
				if r >= 0x20 && r <= 0x2f { // intermediate: ESC ( B and friends
					continue
				}
				p.state = sText
			}
		case sCSI:
			if r >= 0x40 && r <= 0x7e {
				p.state = sText
			}
		case sString:
			if r == 0x07 {
				p.state = sText
			} else if r == 0x1b {
				p.state = sStringEsc
			}
		case sStringEsc:
			if r == '\\' {
				p.state = sText
			} else {
				p.state = sString
			}
		}
	}
	_, err := io.WriteString(p.w, out.String())
	return len(b), err
}

// Transcript writes the plain text of r's output events to w.
func Transcript(r *Reader, w io.Writer) error {
	p := NewPlain(w)
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Kind == Output {
			p.Write([]byte(ev.Data))
		}
	}
}

// Grep reports whether text occurs, case-insensitively, in what the
// recording showed or what was typed (each as plain text).
func Grep(r *Reader, text string) (bool, error) {
	var out, in strings.Builder
	po, pi := NewPlain(&out), NewPlain(&in)
	h := r.Header()
	if strings.Contains(strings.ToLower(h.Command), strings.ToLower(text)) {
		return true, nil
	}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
		switch ev.Kind {
		case Output:
			po.Write([]byte(ev.Data))
		case Input:
			pi.Write([]byte(ev.Data))
		}
	}
	needle := strings.ToLower(text)
	return strings.Contains(strings.ToLower(out.String()), needle) ||
		strings.Contains(strings.ToLower(in.String()), needle), nil
}

// PlayOptions tune Play.
type PlayOptions struct {
	// Speed divides every pause; 0 means 1.
	Speed float64
	// IdleLimit caps one pause (before dividing by Speed); 0 means none.
	IdleLimit time.Duration
	// Sleep waits d or until ctx is done; nil means a timer. Tests inject one.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Play writes r's output events to w at their recorded pace.
func Play(ctx context.Context, r *Reader, w io.Writer, o PlayOptions) error {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	last := 0.0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Kind != Output {
			continue
		}
		pause := time.Duration((ev.Time - last) * float64(time.Second))
		last = ev.Time
		if o.IdleLimit > 0 && pause > o.IdleLimit {
			pause = o.IdleLimit
		}
		if pause > 0 {
			if err := o.Sleep(ctx, time.Duration(float64(pause)/o.Speed)); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Follower is an io.Reader over a file that is still being written: at the
// end of the data it polls until more arrives or Done reports true.
type Follower struct {
	R    io.Reader
	Done func() bool
	Poll time.Duration // 0 means 200ms
	Ctx  context.Context
}

func (f *Follower) Read(p []byte) (int, error) {
	poll := f.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for {
		n, err := f.R.Read(p)
		if n > 0 || err != io.EOF {
			return n, err
		}
		if f.Done != nil && f.Done() {
			// One more read: what was written before Done turned true.
			n, err := f.R.Read(p)
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		ctx := f.Ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if err := sleep(ctx, poll); err != nil {
			return 0, err
		}
	}
}
