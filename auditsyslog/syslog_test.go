// Tests for the syslog copy: the datagram format and that it never blocks.
package auditsyslog

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bastion/audit"
)

func TestFormat(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e := audit.Event{Type: "login.failure", User: "bob", Source: "192.0.2.1:4022", ConnID: "abc", Result: "fail",
		Fields: map[string]string{"reason": `wrong "code"=x`, "weird key\n": "v", "bytes_up": "text"}, Num: map[string]int64{"bytes_up": 12}}
	got := string(Format(e, nil, now, 42))
	want := `<84>Mar  4 05:06:07 bastion-audit[42]: type=login.failure result=fail user=bob source=192.0.2.1:4022 conn_id=abc ` +
		`bytes_up=12 reason="wrong \"code\"=x" weird_key_=v`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	ok := string(Format(audit.Event{Type: "jump.open", Result: "ok"}, errors.New("disk full"), now, 1))
	if !strings.HasPrefix(ok, "<84>") || !strings.Contains(ok, `audit_file="write failed"`) {
		t.Errorf("a failed file write must show: %s", ok)
	}
	if s := Format(audit.Event{Type: "server.start", Result: "ok"}, nil, now, 1); !strings.HasPrefix(string(s), "<86>") {
		t.Errorf("info severity: %s", s)
	}
	long := string(Format(audit.Event{Type: "x", Fields: map[string]string{"f": strings.Repeat("é", 10000)}}, nil, now, 1))
	if len(long) > maxMessage || !strings.HasSuffix(long, " [truncated]") {
		t.Errorf("long message: %d bytes, suffix %q", len(long), long[len(long)-20:])
	}
}

func TestWriterDelivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w := New(path)
	w.Send(audit.Event{Type: "a"}, nil)
	w.Send(audit.Event{Type: "b"}, nil)
	w.Close()
	buf := make([]byte, 1024)
	for _, want := range []string{"type=a", "type=b"} {
		ln.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := ln.Read(buf)
		if err != nil || !strings.HasSuffix(string(buf[:n]), want) {
			t.Fatalf("read %q, %v; want ...%s", buf[:n], err, want)
		}
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped %d", w.Dropped())
	}
}

func TestWriterNeverBlocks(t *testing.T) {
	w := New(filepath.Join(t.TempDir(), "nobody-listens"))
	for range 3 * queueLen {
		w.Send(audit.Event{Type: "x"}, nil) // must return at once even with no reader
	}
	w.Close()
	if w.Dropped() != 3*queueLen {
		t.Errorf("dropped %d of %d", w.Dropped(), 3*queueLen)
	}
}
