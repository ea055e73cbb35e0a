// Retention deletes old rotated files with an audit.pruned record; Verify
// tells that from deletion by someone else. The disk watch warns early.

package audit

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRetentionBySize(t *testing.T) {
	var warned []string
	l, path := openLog(t, Options{MaxSize: 1000, RetainSize: 2500, Warn: func(m string, _ ...any) { warned = append(warned, m) }})
	appendN(t, l, 40)
	rotated, _ := rotatedFiles(path)
	var total int64
	for _, f := range rotated {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	if total > 2500+1000 || len(rotated) < 2 {
		t.Fatalf("%d rotated files, %d bytes kept; retention 2500", len(rotated), total)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Fatal("the oldest rotated file was not pruned")
	}
	res, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.PrunedBefore <= 1 {
		t.Fatalf("Verify after pruning = %+v, want OK with PrunedBefore", res)
	}
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == TypePruned {
			n++
			if r.Fields["files"] == "" || r.Fields["reason"] != "size" || r.Num["now_first_seq"] == 0 {
				t.Fatalf("audit.pruned %+v", r.Fields)
			}
		}
	}
	if n == 0 || len(warned) == 0 || l.Stats().Pruned == 0 {
		t.Fatalf("%d audit.pruned records, %d warnings, stats %+v", n, len(warned), l.Stats())
	}

	// Someone deleting the oldest remaining file is not retention.
	rotated, _ = rotatedFiles(path)
	os.Remove(rotated[0])
	if res, _ := Verify(path); res.OK || !strings.Contains(res.Reason, "no audit.pruned record") {
		t.Fatalf("Verify after an unaccounted deletion = %+v", res)
	}
}

func TestRetentionByAge(t *testing.T) {
	now := t0
	l, path := openLog(t, Options{MaxSize: 1000, RetainAge: time.Hour, Now: func() time.Time { return now }})
	appendN(t, l, 12)
	rotated, _ := rotatedFiles(path)
	if len(rotated) < 3 {
		t.Fatalf("%d rotated files", len(rotated))
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, f := range rotated {
		os.Chtimes(f, old, old)
	}
	now = time.Now()
	l.Close()
	l2, err := Open(path, Options{MaxSize: 1000, RetainAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	left, _ := rotatedFiles(path)
	if len(left) != 1 || left[0] != rotated[len(rotated)-1] {
		t.Fatalf("after Open with files past RetainAge: %v (the newest must stay)", left)
	}
	if res, err := Verify(path); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
}

func TestLowDiskWarns(t *testing.T) {
	saved := freeSpace
	t.Cleanup(func() { freeSpace = saved })
	free := uint64(10 << 30)
	freeSpace = func(string) (uint64, error) { return free, nil }
	var warned int
	l, _ := openLog(t, Options{DiskWarn: 1 << 30, Warn: func(string, ...any) { warned++ }})
	appendN(t, l, 1)
	if st := l.Stats(); st.LowDisk || st.FreeBytes != free || warned != 0 {
		t.Fatalf("stats %+v, %d warnings with plenty of space", st, warned)
	}
	free = 100 << 20
	appendN(t, l, 3)
	if st := l.Stats(); !st.LowDisk || st.FreeBytes != free || warned != 1 || st.Appends != 4 {
		t.Fatalf("stats %+v, %d warnings with little space; want LowDisk and one warning", st, warned)
	}
}
