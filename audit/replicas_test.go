package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// mirrorTo returns a Mirror that keeps copies of the lines, and fails
// while *down is true.
func mirrorTo(lines *[][]byte, down *bool) func(Record, []byte) error {
	return func(r Record, line []byte) error {
		if *down {
			return errors.New("database down")
		}
		if got := encodeLine(r); !bytes.Equal(got, line) {
			return errors.New("the record and its line differ")
		}
		*lines = append(*lines, bytes.Clone(line))
		return nil
	}
}

// TestMirrorKeyedChain: the mirrored lines (records and signed
// checkpoints) verify as one chain with the key, and fail with another key.
func TestMirrorKeyedChain(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	var lines [][]byte
	down := false
	l, path := openLog(t, Options{Key: key, CheckpointEvery: 5, Mirror: mirrorTo(&lines, &down)})
	appendN(t, l, 12) // checkpoints at seq 6 and 11
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if want := readLines(t, path); len(lines) != len(want) || len(want) != 15 {
		t.Fatalf("mirrored %d lines, the file has %d; want 15", len(lines), len(want))
	}
	res := VerifyLines("a", lines, pub)
	if !res.OK || res.Records != 15 || res.Checkpoints != 3 || res.SignedThrough != 15 || res.FirstSeq != 1 {
		t.Fatalf("keyed mirror: %+v", res)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if res := VerifyLines("a", lines, other); res.OK || res.BreakSeq != 6 || !strings.Contains(res.Reason, "checkpoint signature") {
		t.Fatalf("with another key: %+v", res)
	}
	// A chain that starts later (a copy begun on an existing log) verifies
	// from where it starts; a gap inside it does not.
	if res := VerifyLines("a", lines[4:], pub); !res.OK || res.FirstSeq != 5 {
		t.Fatalf("chain from seq 5: %+v", res)
	}
	gap := append(append([][]byte{}, lines[:3]...), lines[4:]...)
	if res := VerifyLines("a", gap, pub); res.OK || res.BreakSeq != 5 || res.BreakLine != 4 {
		t.Fatalf("chain without seq 4: %+v", res)
	}
}

// TestMirrorFailureUndoesTheLine: a record the mirror refuses fails the
// append and is not in the file, so the next one chains in both.
func TestMirrorFailureUndoesTheLine(t *testing.T) {
	var lines [][]byte
	down := false
	l, path := openLog(t, Options{Mirror: mirrorTo(&lines, &down)})
	appendN(t, l, 2)
	down = true
	if err := l.Append(Event{Type: "test.event", User: "lost"}); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Fatalf("append with the mirror down: %v", err)
	}
	down = false
	appendN(t, l, 1)
	if got := readLines(t, path); len(got) != 3 || strings.Contains(strings.Join(got, ""), "lost") {
		t.Fatalf("file after a refused mirror: %q", got)
	}
	mustVerifyOK(t, path, 3)
	if res := VerifyLines("a", lines, nil); !res.OK || res.Records != 3 {
		t.Fatalf("mirror after a refused record: %+v", res)
	}
}

// FuzzVerifyLines: rows read back from a database are untrusted; whatever
// they hold, VerifyLines answers without panicking, and an intact chain
// with one byte changed is never OK.
func FuzzVerifyLines(f *testing.F) {
	l, _ := openLogF(f)
	var lines [][]byte
	down := false
	l.opt.Mirror = mirrorTo(&lines, &down)
	for i := 0; i < 3; i++ {
		if err := l.Append(Event{Type: "test.event", User: "u"}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(0, byte('x'), []byte(nil))
	f.Add(40, byte('1'), []byte(`{"seq":1}`))
	f.Fuzz(func(t *testing.T, at int, b byte, extra []byte) {
		rows := [][]byte{bytes.Clone(lines[0]), bytes.Clone(lines[1]), bytes.Clone(lines[2])}
		all := bytes.Join(rows, nil)
		if at < 0 {
			at = -at
		}
		at %= len(all)
		n := 0
		for i, r := range rows {
			if at < n+len(r) {
				changed := r[at-n] != b
				r[at-n] = b
				if res := VerifyLines("a", rows, nil); changed && res.OK {
					t.Fatalf("row %d changed at %d and the chain still verifies: %+v", i, at-n, res)
				}
				break
			}
			n += len(r)
		}
		VerifyLines("a", append(rows, extra), nil) // must not panic
	})
}

// openLogF is openLog for a fuzz target's setup.
func openLogF(f *testing.F) (*Log, string) {
	path := f.TempDir() + "/audit.log"
	l, err := Open(path, Options{Now: fakeClock()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	return l, path
}
