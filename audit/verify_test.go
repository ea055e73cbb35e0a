// Tamper tests: every integrity promise of Verify, proven by breaking it.

package audit

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestVerifyNamesFirstBreak(t *testing.T) {
	forged := func(lines []string) string {
		// A well-formed record with a correct own hash but a made-up prev.
		r, err := ParseRecord([]byte(lines[2]))
		if err != nil {
			t.Fatal(err)
		}
		r.User = "mallory"
		r.Prev = strings.Repeat("ab", 32)
		r.Hash = hashOf(r)
		return string(encodeLine(r))
	}
	tests := []struct {
		name     string
		tamper   func(lines []string) []string
		wantLine int
		wantSeq  uint64
		reason   string
	}{
		{"edit a field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"user":"alice"`, `"user":"alicf"`, 1)
			return l
		}, 3, 3, "hash mismatch"},
		{"delete a line", func(l []string) []string {
			return slices.Delete(l, 2, 3)
		}, 3, 4, "seq 4 where 3 was expected"},
		{"swap two lines", func(l []string) []string {
			l[1], l[2] = l[2], l[1]
			return l
		}, 2, 3, "seq 3 where 2 was expected"},
		{"insert a copied line", func(l []string) []string {
			return slices.Insert(l, 2, l[1])
		}, 3, 2, "seq 2 where 3 was expected"},
		{"replace with a forged record", func(l []string) []string {
			l[2] = forged(l)
			return l
		}, 3, 3, "prev does not match"},
		{"truncate mid-line", func(l []string) []string {
			l[4] = l[4][:len(l[4])/2]
			return l
		}, 5, 5, "truncated"},
		{"reformat a line", func(l []string) []string {
			l[3] = strings.Replace(l[3], `{"seq":4,`, `{"seq": 4,`, 1)
			return l
		}, 4, 4, "canonical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, path := openLog(t, Options{})
			appendN(t, l, 5)
			mustVerifyOK(t, path, 5)
			writeLines(t, path, tt.tamper(readLines(t, path)))

			res, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.BreakFile != path || res.BreakLine != tt.wantLine || res.BreakSeq != tt.wantSeq ||
				res.Records != tt.wantLine-1 || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("Verify = %+v\nwant break at %s:%d seq %d after %d records, reason containing %q",
					res, path, tt.wantLine, tt.wantSeq, tt.wantLine-1, tt.reason)
			}
		})
	}
}

func TestVerifyAcrossRotatedFiles(t *testing.T) {
	setup := func(t *testing.T) (string, []string) {
		l, path := openLog(t, Options{MaxSize: 600})
		appendN(t, l, 15)
		rotated, err := rotatedFiles(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(rotated) < 3 {
			t.Fatalf("want at least 3 rotated files, got %d", len(rotated))
		}
		return path, rotated
	}
	t.Run("edit in the oldest file", func(t *testing.T) {
		path, rotated := setup(t)
		lines := readLines(t, rotated[0])
		lines[1] = strings.Replace(lines[1], `"result":"ok"`, `"result":"no"`, 1)
		writeLines(t, rotated[0], lines)
		res, err := Verify(path)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.BreakFile != rotated[0] || res.BreakLine != 2 || res.BreakSeq != 2 {
			t.Fatalf("Verify = %+v, want break at %s:2 seq 2", res, rotated[0])
		}
	})
	t.Run("delete a whole rotated file", func(t *testing.T) {
		path, rotated := setup(t)
		first := len(readLines(t, rotated[0]))
		removed := len(readLines(t, rotated[1]))
		if err := os.Remove(rotated[1]); err != nil {
			t.Fatal(err)
		}
		res, err := Verify(path)
		if err != nil {
			t.Fatal(err)
		}
		wantSeq := uint64(first + removed + 1)
		if res.OK || res.BreakFile != rotated[2] || res.BreakLine != 1 || res.BreakSeq != wantSeq {
			t.Fatalf("Verify = %+v, want break at %s:1 seq %d", res, rotated[2], wantSeq)
		}
	})
}

func TestVerifyMissingLog(t *testing.T) {
	if _, err := Verify(t.TempDir() + "/nope.log"); err == nil {
		t.Fatal("Verify of a missing log succeeded")
	}
}

func TestReadAllRejectsDamage(t *testing.T) {
	l, path := openLog(t, Options{})
	appendN(t, l, 3)
	lines := readLines(t, path)
	writeLines(t, path, []string{lines[0], lines[1], lines[2][:10]})
	if _, err := ReadAll(path); err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Fatalf("ReadAll of a torn log = %v, want an error naming line 3", err)
	}
}
