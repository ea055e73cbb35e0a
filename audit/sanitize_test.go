// Append never writes a record its reader rejects, whatever the Event holds.

package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appendAndCheck appends e to a fresh log and checks that every line
// parses, the chain verifies and the record is bounded.
func appendAndCheck(t *testing.T, e Event) Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2 { // the second record chains onto the first
		if err := l.Append(e); err != nil {
			if e.Type == "" {
				return Record{}
			}
			t.Fatalf("Append(%+v): %v", e, err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") {
		if _, err := ParseRecord([]byte(line)); err != nil {
			t.Fatalf("ParseRecord rejects what Append wrote: %v\n%s", err, line)
		}
		if len(line) > maxLineSize/2 {
			t.Fatalf("record of %d bytes", len(line))
		}
	}
	res, err := Verify(path)
	if err != nil || !res.OK || res.Records != 2 || len(res.Sealed) != 0 {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	recs, err := ReadAll(path)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadAll = %d records, %v", len(recs), err)
	}
	return recs[0]
}

func TestAppendCleansHostileStrings(t *testing.T) {
	huge := strings.Repeat("\x01", 170<<10)
	r := appendAndCheck(t, Event{Type: "conn.accept", User: "x\xffy", Target: "pve\xff", Source: huge,
		Fields: map[string]string{"client_version": "SSH-2.0-evil\xff", "a\xff": "1", "a\xfe": "2", "big": huge}})
	if r.User != `x\xffy` || r.Target != `pve\xff` || r.Fields["client_version"] != `SSH-2.0-evil\xff` {
		t.Fatalf("cleaned record %+v", r.Event)
	}
	if len(r.Fields) != 4 || r.Fields[`a\xfe`] != "2" || r.Fields[`a\xff`] != "1" {
		t.Fatalf("fields lost: %d kept", len(r.Fields))
	}
	if !strings.Contains(r.Fields["big"], "…[cut ") || len(r.Fields["big"]) > maxValueLen {
		t.Fatalf("huge field not cut with a marker: %d bytes", len(r.Fields["big"]))
	}
	many := map[string]string{}
	for i := range 100 {
		many[fmt.Sprintf("k%03d", i)] = huge
	}
	r = appendAndCheck(t, Event{Type: "many", Fields: many})
	if len(r.Fields)+len(r.Num) != maxFields || r.Num["fields_cut"] != 69 {
		t.Fatalf("100 fields: kept %d, fields_cut=%d", len(r.Fields)+len(r.Num), r.Num["fields_cut"])
	}
}

// FuzzAppendRoundTrip: arbitrary Event values through Append; every record
// it writes must read back (ParseRecord), hash to its Hash and chain onto
// the one before, as Verify requires. One log serves the whole run, so an
// input costs one append (TestAppendCleansHostileStrings runs the full
// Verify and ReadAll round trip).
func FuzzAppendRoundTrip(f *testing.F) {
	f.Add("conn.accept", "x\xffy", "192.0.2.1:22", "pve\xff", "ok", "c1", "client_version", "SSH-2.0-x\xff", "", "", "bytes_up", int64(1))
	f.Add("t", "\u2028\u2029<>&", "", "", "", "", "\x00", "\x1b[2J", "k", strings.Repeat("\xff", 5000), "k", int64(-1<<63))
	dir, err := os.MkdirTemp("", "fuzz-audit-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path, Options{MaxSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	tip := chainTip{Hash: zeroHash}
	f.Fuzz(func(t *testing.T, typ, user, source, target, result, connID, k1, v1, k2, v2, k3 string, n int64) {
		e := Event{Type: typ, User: user, Source: source, Target: target, Result: result,
			ConnID: connID, Fields: map[string]string{k1: v1, k2: v2}, Num: map[string]int64{k3: n}}
		if err := l.Append(e); err != nil {
			if typ == "" || strings.HasPrefix(err.Error(), "audit: append: audit.") {
				return // refused types
			}
			t.Fatalf("Append(%+v): %v", e, err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		st, _ := fh.Stat()
		line, err := lastLine(fh, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRecord(line)
		switch {
		case err != nil:
			t.Fatalf("ParseRecord rejects what Append wrote: %v\n%s", err, line)
		case hashOf(r) != r.Hash:
			t.Fatalf("hash mismatch on read back: %s", line)
		case r.Seq != tip.Seq+1 || r.Prev != tip.Hash:
			t.Fatalf("record %d does not chain onto %d", r.Seq, tip.Seq)
		case len(line) > maxLineSize/2:
			t.Fatalf("record of %d bytes", len(line))
		}
		tip = chainTip{Seq: r.Seq, Hash: r.Hash}
	})
}
