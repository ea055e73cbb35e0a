package recording

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock advances only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openRoot(t *testing.T) (*os.Root, string) {
	dir := t.TempDir()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

func TestWriterRoundTrip(t *testing.T) {
	root, dir := openRoot(t)
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	w, err := Create(root, "s1.cast", Header{Width: 80, Height: 24, Command: "pve1"}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(500 * time.Millisecond)
	w.Output([]byte("hello \xe2\x82")) // a euro sign split across two writes
	clk.Add(250 * time.Millisecond)
	w.Output([]byte("\xac world\r\n"))
	w.Input([]byte("ls\r"))
	clk.Add(time.Second)
	w.Resize(120, 40)
	w.Mark("exit-status 3")
	sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "s1.cast"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"width":80,"height":24,"timestamp":1800000000,"command":"pve1"}
[0.500000,"o","hello "]
[0.750000,"o","€ world\r\n"]
[0.750000,"i","ls\r"]
[1.750000,"r","120x40"]
[1.750000,"m","exit-status 3"]
`
	if string(raw) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", raw, want)
	}
	h := sha256.Sum256(raw)
	if sum.SHA256 != hex.EncodeToString(h[:]) || sum.Size != int64(len(raw)) || sum.Capped {
		t.Errorf("summary %+v, file sha %x size %d", sum, h, len(raw))
	}
	st, _ := os.Stat(filepath.Join(dir, "s1.cast"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	hd, evs, err := ReadAll(bytes.NewReader(raw))
	if err != nil || hd.Width != 80 || hd.Command != "pve1" || len(evs) != 5 || evs[1].Data != "€ world\r\n" || evs[3].Kind != Resize {
		t.Fatalf("read back %+v %+v %v", hd, evs, err)
	}
}

func TestWriterConfinedAndNoOverwrite(t *testing.T) {
	root, _ := openRoot(t)
	for _, name := range []string{"../escape.cast", "/etc/passwd"} {
		if _, err := Create(root, name, Header{Width: 80, Height: 24}, Options{}); err == nil {
			t.Errorf("created %q outside the recordings directory", name)
		}
	}
	w, err := Create(root, "a.cast", Header{Width: 80, Height: 24}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := Create(root, "a.cast", Header{Width: 80, Height: 24}, Options{}); err == nil {
		t.Error("an existing recording was overwritten")
	}
}

func TestWriterFlushesWithinPeriod(t *testing.T) {
	root, dir := openRoot(t)
	w, err := Create(root, "f.cast", Header{Width: 80, Height: 24}, Options{FlushEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Output([]byte("first-line"))
	// Not closed: the data must reach the file by the flusher alone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, _ := os.ReadFile(filepath.Join(dir, "f.cast"))
		if bytes.Contains(raw, []byte("first-line")) {
			if !bytes.HasSuffix(raw, []byte("\n")) {
				t.Fatalf("flushed a partial line: %q", raw)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event never flushed; file %q", raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterCap(t *testing.T) {
	root, dir := openRoot(t)
	w, err := Create(root, "c.cast", Header{Width: 80, Height: 24}, Options{MaxSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	var capErr error
	for i := 0; i < 20 && capErr == nil; i++ {
		capErr = w.Output([]byte("0123456789"))
	}
	if !errors.Is(capErr, ErrCapped) {
		t.Fatalf("no ErrCapped after 200 bytes: %v", capErr)
	}
	if err := w.Output([]byte("more")); !errors.Is(err, ErrCapped) {
		t.Errorf("write after cap: %v", err)
	}
	sum, _ := w.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, "c.cast"))
	if !sum.Capped || int64(len(raw)) != sum.Size || len(raw) > 200 {
		t.Fatalf("summary %+v, file %d bytes", sum, len(raw))
	}
	if _, _, err := ReadAll(bytes.NewReader(raw)); err != nil {
		t.Errorf("capped file does not parse: %v", err)
	}
}

func TestReaderRejects(t *testing.T) {
	hdr := `{"version":2,"width":80,"height":24}` + "\n"
	for name, in := range map[string]string{
		"empty":        "",
		"version 1":    `{"version":1,"width":80,"height":24}` + "\n",
		"no size":      `{"version":2}` + "\n",
		"two values":   `{"version":2,"width":80,"height":24}{}` + "\n",
		"kind":         hdr + `[1.0,"x","a"]` + "\n",
		"arity":        hdr + `[1.0,"o"]` + "\n",
		"negative":     hdr + `[-1,"o","a"]` + "\n",
		"not an array": hdr + `{"a":1}` + "\n",
		"long line":    hdr + `[1.0,"o","` + strings.Repeat("a", MaxLine) + `"]` + "\n",
	} {
		_, _, err := ReadAll(strings.NewReader(in))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A torn last line (crash mid-write) ends the recording without error.
	rd, err := NewReader(strings.NewReader(hdr + `[1.0,"o","a"]` + "\n" + `[2.0,"o","b`))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := rd.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("first event %+v %v", ev, err)
	}
	if _, err := rd.Next(); err != io.EOF || !rd.Torn {
		t.Fatalf("torn line: %v torn=%v", err, rd.Torn)
	}
}

func TestPlainAndGrep(t *testing.T) {
	var b strings.Builder
	p := NewPlain(&b)
	p.Write([]byte("\x1b[1;32mroot@pve1\x1b[0m:~# ls\r\nfile\x1b]0;tit"))
	p.Write([]byte("le\x07\x1b[?2004h done\x1b(B\r\n"))
	if got, want := b.String(), "root@pve1:~# ls\nfile done\n"; got != want {
		t.Errorf("plain = %q, want %q", got, want)
	}
	cast := `{"version":2,"width":80,"height":24,"command":"pve1"}
[0.1,"o","\u001b[1mZPOOL\u001b[0m status"]
[0.2,"i","secret-typed"]
`
	for text, want := range map[string]bool{"zpool status": true, "SECRET-TYPED": true, "pve1": true, "absent": false, "1m": false} {
		rd, _ := NewReader(strings.NewReader(cast))
		got, err := Grep(rd, text)
		if err != nil || got != want {
			t.Errorf("Grep(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
}

func TestPlayTiming(t *testing.T) {
	cast := `{"version":2,"width":80,"height":24}
[1.0,"o","a"]
[1.5,"i","x"]
[11.0,"o","b"]
[11.5,"o","c"]
`
	var pauses []time.Duration
	var out strings.Builder
	rd, _ := NewReader(strings.NewReader(cast))
	err := Play(context.Background(), rd, &out, PlayOptions{Speed: 2, IdleLimit: 2 * time.Second,
		Sleep: func(_ context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }})
	if err != nil || out.String() != "abc" {
		t.Fatalf("played %q, %v", out.String(), err)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 250 * time.Millisecond}
	if len(pauses) != 3 || pauses[0] != want[0] || pauses[1] != want[1] || pauses[2] != want[2] {
		t.Errorf("pauses %v, want %v", pauses, want)
	}
}

func TestFollowerReadsGrowingFile(t *testing.T) {
	root, dir := openRoot(t)
	w, err := Create(root, "g.cast", Header{Width: 80, Height: 24}, Options{FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "g.cast"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	closed := false
	fl := &Follower{R: f, Poll: 5 * time.Millisecond, Done: func() bool { mu.Lock(); defer mu.Unlock(); return closed }}
	rd, err := NewReader(fl)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Output([]byte("one"))
		w.Output([]byte("two"))
		w.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
	}()
	var got []string
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Data)
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("followed %q", got)
	}
}
