// Tests of the writer: round trip, rotation, concurrency, failures.

package audit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestAppendReadRoundTrip(t *testing.T) {
	l, path := openLog(t, Options{})
	events := []Event{
		{Type: "server.start"},
		{Type: "login.success", User: "alice", Source: "192.0.2.1:5555", Result: "ok", ConnID: "c1",
			Fields: map[string]string{"fingerprint": "SHA256:abc", "method": "publickey+otp"}},
		{Type: "jump.open", User: "alice", Target: "db1", Result: "ok", ConnID: "c1",
			Fields: map[string]string{"dest": "10.0.0.5:22"}},
	}
	for _, e := range events {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(events) {
		t.Fatalf("got %d records, want %d", len(recs), len(events))
	}
	prev := zeroHash
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Errorf("record %d: seq %d", i, r.Seq)
		}
		if want := t0.Add(time.Duration(i+1) * time.Second); !r.Time.Equal(want) || r.Time.Location() != time.UTC {
			t.Errorf("record %d: time %v, want %v UTC", i, r.Time, want)
		}
		if r.Prev != prev {
			t.Errorf("record %d: prev %s, want %s", i, r.Prev, prev)
		}
		if r.Hash != hashOf(r) {
			t.Errorf("record %d: hash does not match content", i)
		}
		if !reflect.DeepEqual(r.Event, events[i]) {
			t.Errorf("record %d: event %+v, want %+v", i, r.Event, events[i])
		}
		prev = r.Hash
	}
	mustVerifyOK(t, path, len(events))
}

func TestOpenCreatesPrivateFileAndDir(t *testing.T) {
	_, path := openLog(t, Options{})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", st.Mode().Perm())
	}
	if st.Size() != 0 {
		t.Errorf("new log has %d bytes", st.Size())
	}
}

func TestAppendRejectsEventWithoutType(t *testing.T) {
	l, _ := openLog(t, Options{})
	if err := l.Append(Event{User: "alice"}); err == nil {
		t.Fatal("Append without Type succeeded")
	}
}

func TestAppendAfterClose(t *testing.T) {
	l, _ := openLog(t, Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Event{Type: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestRotationKeepsChain(t *testing.T) {
	const maxSize = 600 // a few records per file
	l, path := openLog(t, Options{MaxSize: maxSize})
	appendN(t, l, 20)
	// Reopening continues the chain where it left off.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(path, Options{MaxSize: maxSize, Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	appendN(t, l2, 5)

	rotated, err := rotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) < 3 {
		t.Fatalf("got %d rotated files, want several", len(rotated))
	}
	for _, name := range append(rotated, path) {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize {
			t.Errorf("%s has %d bytes, over MaxSize %d", name, st.Size(), maxSize)
		}
	}
	if rotated[0] != path+".1" {
		t.Errorf("oldest rotated file is %s, want %s.1", rotated[0], path)
	}
	// The first record of path.2 chains onto the last of path.1.
	first, last := readLines(t, rotated[1])[0], readLines(t, rotated[0])
	r1, err := ParseRecord([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	r0, err := ParseRecord([]byte(last[len(last)-1]))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Prev != r0.Hash || r1.Seq != r0.Seq+1 {
		t.Errorf("chain across rotation broken: %d/%s after %d/%s", r1.Seq, r1.Prev, r0.Seq, r0.Hash)
	}
	mustVerifyOK(t, path, 25)
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("ReadAll record %d has seq %d", i, r.Seq)
		}
	}
}

func TestLastLineReadsBackwardsAcrossChunks(t *testing.T) {
	l, path := openLog(t, Options{})
	big := make([]byte, 10000) // longer than one 4 KiB chunk
	for i := range big {
		big[i] = 'a'
	}
	if err := l.Append(Event{Type: "big", Fields: map[string]string{"blob": string(big)}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Event{Type: "big", Fields: map[string]string{"blob": string(big)}}); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1)
	mustVerifyOK(t, path, 3)
}

func TestConcurrentAppends(t *testing.T) {
	l, path := openLog(t, Options{MaxSize: 4096})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(Event{Type: "test.event", User: fmt.Sprintf("w%d", w), Fields: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustVerifyOK(t, path, workers*each)
}

// TestHelperProcess is not a test: TestConcurrentProcesses runs the test
// binary again with this test selected, to append from a second process.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("AUDIT_HELPER_PATH")
	if path == "" {
		t.Skip("helper process only")
	}
	n, err := strconv.Atoi(os.Getenv("AUDIT_HELPER_N"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{MaxSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range n {
		if err := l.Append(Event{Type: "test.child", Fields: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentProcesses(t *testing.T) {
	const n = 200
	l, path := openLog(t, Options{MaxSize: 4096})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AUDIT_HELPER_PATH="+path, "AUDIT_HELPER_N="+strconv.Itoa(n))
	out := make(chan []byte, 1)
	cmdErr := make(chan error, 1)
	go func() {
		b, err := cmd.CombinedOutput()
		out <- b
		cmdErr <- err
	}()
	for i := range n {
		if err := l.Append(Event{Type: "test.parent", Fields: map[string]string{"i": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := <-out, <-cmdErr; err != nil {
		t.Fatalf("helper process: %v\n%s", err, b)
	}
	mustVerifyOK(t, path, 2*n)
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range recs {
		count[r.Type]++
	}
	if count["test.parent"] != n || count["test.child"] != n {
		t.Fatalf("records by type %v, want %d each", count, n)
	}
}

func TestAppendReturnsWriteFailure(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	// /dev/full accepts the open and fails every write with ENOSPC, even for root.
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Event{Type: "login.success", User: "alice"}); err == nil {
		t.Fatal("Append to a full device succeeded")
	}
}

func TestAppendReturnsOpenFailure(t *testing.T) {
	l, path := openLog(t, Options{})
	appendN(t, l, 1)
	// Another process rotates the file away; reopening it then fails.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	saved := openFile
	t.Cleanup(func() { openFile = saved })
	openFile = func(string) (*os.File, error) { return nil, errors.New("injected open failure") }
	if err := l.Append(Event{Type: "x"}); err == nil {
		t.Fatal("Append succeeded although the active file could not be opened")
	}
}
