// Test helpers shared by the audit tests.

package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock returns a Now that starts at t0 and advances one second per call.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

// openLog opens a fresh log in a temp dir and closes it at cleanup.
func openLog(t *testing.T, opt Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "var", "audit.log")
	if opt.Now == nil {
		opt.Now = fakeClock()
	}
	l, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

// appendN appends n events of type "test.event" numbered by Fields["i"].
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		e := Event{Type: "test.event", User: "alice", Source: "192.0.2.1:5555", Result: "ok",
			Fields: map[string]string{"i": fmt.Sprint(i)}}
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

func writeLines(t *testing.T, name string, lines []string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustVerifyOK(t *testing.T, path string, want int) {
	t.Helper()
	res, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != want {
		t.Fatalf("Verify = %+v, want OK with %d records", res, want)
	}
}
