// A damaged tail is sealed with audit.recovered, and Verify still reports it.

package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// badLine is a record as the old writer produced it for the user name
// "x\xffy": chained and hashed, but the JSON holds \ufffd, so it does not
// read back in canonical form (issue 9, finding 1).
func badLine(t *testing.T, path string) string {
	t.Helper()
	lines := readLines(t, path)
	last, err := ParseRecord([]byte(lines[len(lines)-1]))
	if err != nil {
		t.Fatal(err)
	}
	r := Record{Seq: last.Seq + 1, Time: t0, Prev: last.Hash, Event: Event{Type: "conn.accept", User: "x\xffy"}}
	r.Hash = hashOf(r)
	line := string(encodeLine(r))
	if !strings.Contains(line, `\ufffd`) {
		t.Fatalf("the old encoding no longer shows the bug: %s", line)
	}
	if _, err := ParseRecord([]byte(line)); err == nil {
		t.Fatal("ParseRecord accepts the non-canonical line")
	}
	return line
}

func TestSealDamagedTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, lines []string) []string
	}{
		{"torn write", func(t *testing.T, path string, lines []string) []string {
			return []string{lines[0], lines[1], lines[2][:20]}
		}},
		{"unreadable record", func(t *testing.T, path string, lines []string) []string {
			return append(lines, badLine(t, path))
		}},
		{"edited last record", func(t *testing.T, path string, lines []string) []string {
			return []string{lines[0], lines[1], strings.Replace(lines[2], "alice", "mallory", 1)}
		}},
		{"first line", func(t *testing.T, path string, lines []string) []string {
			return []string{"garbage\n"}
		}},
		{"over-long line", func(t *testing.T, path string, lines []string) []string {
			return append(lines, strings.Repeat("x", maxLineSize+10)+"\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warned []string
			l, path := openLog(t, Options{Warn: func(msg string, args ...any) { warned = append(warned, msg) }})
			appendN(t, l, 3)
			lines := readLines(t, path)
			writeLines(t, path, tc.damage(t, path, lines))
			before, _ := os.ReadFile(path)
			if err := l.Append(Event{Type: "after"}); err != nil {
				t.Fatalf("Append after damage: %v", err)
			}
			if len(warned) != 1 {
				t.Fatalf("Warn called %d times, want once", len(warned))
			}
			// A restarted server (a fresh Open) appends too.
			l2, err := Open(path, Options{Now: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if err := l2.Append(Event{Type: "after.restart"}); err != nil {
				t.Fatalf("Append after restart: %v", err)
			}
			res, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || len(res.Sealed) != 1 {
				t.Fatalf("Verify = %+v, want OK with one sealed stretch", res)
			}
			d := res.Sealed[0]
			after, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(after), string(before)) {
				t.Fatal("sealing changed the damaged bytes")
			}
			sum := sha256.Sum256(before[d.Offset : d.Offset+d.Length])
			if d.SHA256 != hex.EncodeToString(sum[:]) || d.Offset+d.Length != int64(len(before)) {
				t.Fatalf("sealed stretch %+v does not describe the damaged tail of %d bytes", d, len(before))
			}
			recs, err := ReadAll(path)
			if err != nil {
				t.Fatalf("ReadAll after sealing: %v", err)
			}
			if got := recs[len(recs)-1].Type; got != "after.restart" || recs[len(recs)-3].Type != TypeRecovered {
				t.Fatalf("records end with %v", recs[len(recs)-3:])
			}
			if r := recs[len(recs)-3]; r.Num["offset"] != d.Offset || r.Fields["file"] != "audit.log" {
				t.Fatalf("audit.recovered fields %v %v", r.Fields, r.Num)
			}

			// `audit --follow` reads past the sealed stretch too.
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // one poll, then return
			var last Record
			if err := Follow(ctx, path, 0, func(r Record) { last = r }); !errors.Is(err, context.Canceled) || last.Type != "after.restart" {
				t.Fatalf("Follow = %v, last record %s; want every record up to after.restart", err, last.Type)
			}

			// Editing the sealed bytes is itself detected.
			tampered := []byte(string(after))
			tampered[d.Offset] ^= 1
			os.WriteFile(path, tampered, 0o600)
			if res, _ := Verify(path); res.OK {
				t.Fatalf("Verify passed after the sealed bytes were edited: %+v", res)
			}
		})
	}
}

func TestSealSurvivesRotation(t *testing.T) {
	l, path := openLog(t, Options{MaxSize: 2000})
	appendN(t, l, 3)
	lines := readLines(t, path)
	writeLines(t, path, append(lines, lines[2][:30]))
	appendN(t, l, 30) // seals, then rotates several times
	res, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Sealed) != 1 || res.Records != 34 {
		t.Fatalf("Verify = %+v, want OK, 34 records, one sealed stretch", res)
	}
	if _, err := ReadAll(path); err != nil {
		t.Fatal(err)
	}
}

func TestUnsealedDamageStillBreaks(t *testing.T) {
	l, path := openLog(t, Options{})
	appendN(t, l, 4)
	lines := readLines(t, path)
	lines[1] = strings.Replace(lines[1], "alice", "mallory", 1) // an edit in the middle
	writeLines(t, path, lines)
	res, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.BreakLine != 2 || res.Records != 1 || !strings.Contains(res.Reason, "hash mismatch") {
		t.Fatalf("Verify = %+v, want a break at line 2", res)
	}
}
