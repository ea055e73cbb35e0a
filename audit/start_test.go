// Where a chain may start: at seq 1 after the zero hash, or where an
// audit.pruned record says retention left it. Any other start is a cut.
package audit

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeChain writes n valid, chained records starting at firstSeq after firstPrev.
func writeChain(t *testing.T, path string, firstSeq uint64, firstPrev string, n int) {
	t.Helper()
	prev := firstPrev
	var lines []string
	for i := range n {
		r := Record{Seq: firstSeq + uint64(i), V: Version, Time: t0.Add(time.Duration(i) * time.Second), Prev: prev,
			Event: Event{Type: "test.event", User: "alice", Result: "ok"}}
		r.Hash = hashOf(r)
		lines = append(lines, string(encodeLine(r)))
		prev = r.Hash
	}
	writeLines(t, path, lines)
}

func TestVerifyRefusesAForgedStart(t *testing.T) {
	other := hashOf(Record{Seq: 9, Event: Event{Type: "x"}})
	for _, tc := range []struct {
		name     string
		seq      uint64
		prev     string
		wantOK   bool
		wantRecs int
	}{
		{"seq 1 after the zero hash", 1, zeroHash, true, 3},
		{"seq 1 after another hash (records cut before it)", 1, other, false, 3},
		{"seq 5 after the zero hash, no audit.pruned", 5, zeroHash, false, 3},
		{"seq 5 after another hash, no audit.pruned", 5, other, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			writeChain(t, path, tc.seq, tc.prev, 3)
			res, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.wantOK || tc.wantOK && res.Records != tc.wantRecs {
				t.Fatalf("Verify = %+v, want OK=%v", res, tc.wantOK)
			}
			if !tc.wantOK && (res.BreakSeq != tc.seq || !strings.Contains(res.Reason, "no audit.pruned record accounts")) {
				t.Fatalf("Verify = %+v, want the start named as a cut", res)
			}
		})
	}
}

// ReadAll refuses a line that is not a record (nothing seals it).
func TestReadAllRefusesAnUnsealedBadLine(t *testing.T) {
	l, path := openLog(t, Options{})
	appendN(t, l, 2)
	l.Close()
	lines := readLines(t, path)
	writeLines(t, path, []string{lines[0], "not a record\n", lines[1]})
	if recs, err := ReadAll(path); err == nil {
		t.Fatalf("ReadAll read %d records from a log with a bad line, no error", len(recs))
	}
}
