// Append is durable: it returns only after the record was written and
// fsynced, and an fsync failure is returned (the caller then fails closed).
package audit

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// withSync replaces the fsync for the test.
func withSync(t *testing.T, fn func(*os.File) error) {
	saved := syncFile
	t.Cleanup(func() { syncFile = saved })
	syncFile = fn
}

func TestAppendWaitsForFsync(t *testing.T) {
	l, path := openLog(t, Options{})
	entered := make(chan string, 1) // the file's content when fsync was called
	release := make(chan struct{})
	calls := 0
	withSync(t, func(f *os.File) error {
		calls++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		entered <- string(b)
		<-release
		return f.Sync()
	})
	done := make(chan error, 1)
	go func() { done <- l.Append(Event{Type: "login.success", User: "alice"}) }()
	select {
	case content := <-entered:
		if !strings.Contains(content, `"login.success"`) {
			t.Fatalf("fsync called before the record was written; file holds %q", content)
		}
	case err := <-done:
		t.Fatalf("Append returned (%v) without calling fsync", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Append called no fsync within 10s")
	}
	select {
	case err := <-done:
		t.Fatalf("Append returned (%v) while its fsync was still running", err)
	default:
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append did not return after its fsync")
	}
	if calls != 1 {
		t.Fatalf("%d fsyncs for one record, want 1", calls)
	}
	mustVerifyOK(t, path, 1)
}

func TestAppendFailsClosedOnFsyncError(t *testing.T) {
	l, path := openLog(t, Options{})
	appendN(t, l, 1)
	injected := errors.New("injected EIO")
	withSync(t, func(*os.File) error { return injected })
	err := l.Append(Event{Type: "login.success", User: "alice"})
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("Append with a failing fsync = %v, want the fsync error", err)
	}
	// Once fsync works again the log goes on and its chain is intact.
	syncFile = (*os.File).Sync
	appendN(t, l, 1)
	mustVerifyOK(t, path, 3)
}
