// Golden test of the table format, including hostile strings.

package audit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func tableRecords() []Record {
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	return []Record{
		// Out of order on purpose: the table lists the newest last.
		{Seq: 3, Time: at(3), Event: Event{Type: "login.failure", Result: "fail",
			User:   "evil\n2026-03-01 12:00:09  9    login.success  ok      root",
			Source: "198.51.100.7:40000", Fields: map[string]string{"reason": "bad otp"}}},
		{Seq: 1, Time: at(1), Event: Event{Type: "server.start"}},
		{Seq: 2, Time: at(2).In(time.FixedZone("CET", 3600)), Event: Event{Type: "login.success", Result: "ok",
			User: "alice", Source: "192.0.2.1:5555", ConnID: "c1",
			Fields: map[string]string{"method": "publickey+otp", "fingerprint": "SHA256:abc"}}},
		{Seq: 4, Time: at(4), Event: Event{Type: "jump.open", Result: "ok", User: "\x1b[2J\x1b[31mroot\tx\u202e",
			Target: "db1\r", Source: "192.0.2.1:5556", Fields: map[string]string{"dest": "10.0.0.5:22", "note": "a=b x", "bad\x1bkey": "\xff"}}},
	}
}

func TestWriteTableGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, tableRecords()); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("table differs from %s (go test -update to accept):\n got:\n%s\nwant:\n%s", golden, got, want)
	}
}

// The golden file could be regenerated wrongly; these checks do not depend on it.
func TestWriteTableCannotBeForged(t *testing.T) {
	var buf bytes.Buffer
	recs := tableRecords()
	if err := WriteTable(&buf, recs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "\n"); n != len(recs)+1 {
		t.Errorf("table has %d lines, want %d (header + one per record):\n%s", n, len(recs)+1, out)
	}
	for _, c := range out {
		if c != '\n' && (c < 0x20 || c == 0x7f || c == 0x202e) {
			t.Errorf("table contains control character %U:\n%q", c, out)
		}
	}
	lines := strings.Split(out, "\n")
	for i, seq := range []string{"1", "2", "3", "4"} {
		if f := strings.Fields(lines[i+1]); len(f) < 3 || f[2] != seq {
			t.Errorf("row %d = %q, want seq %s (newest last)", i+1, lines[i+1], seq)
		}
	}
	if !strings.Contains(out, `\x1b[2J`) || !strings.Contains(out, `evil\x0a2026`) {
		t.Errorf("hostile strings not shown escaped:\n%s", out)
	}
	if !strings.Contains(out, "2026-03-01 12:00:02") {
		t.Errorf("non-UTC time not printed in UTC:\n%s", out)
	}
}
