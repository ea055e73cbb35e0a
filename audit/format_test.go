// The stored JSON is a contract (SIEMs parse it, hashes depend on it): a
// golden file of typed records, and first-format logs that still verify.

package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestRecordsGolden(t *testing.T) {
	l, path := openLog(t, Options{})
	for _, e := range []Event{
		{Type: "conn.accept", User: "mia", Source: "192.0.2.10:51000", ConnID: "a1b2c3d4e5f6",
			Fields: map[string]string{"client_version": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}},
		{Type: "jump.close", User: "mia", Source: "192.0.2.10:51000", ConnID: "a1b2c3d4e5f6", Target: "pve1", Result: "ok",
			Fields: map[string]string{"dest": "10.0.0.5:22", "reason": "closed"},
			Num:    map[string]int64{"bytes_up": 4711, "bytes_down": 103705, "duration_ms": 177}},
		{Type: "source.penalty", Source: "198.51.100.7:40000", ConnID: "0f0e0d0c0b0a", Result: "fail", Num: map[string]int64{"penalty_ms": 5000}},
		{Type: "conn.accept", User: "x\xffy", Fields: map[string]string{"k": "<a&b>\u2028"}, Num: map[string]int64{"k": -1}},
	} {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "records.golden")
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
		t.Errorf("records differ from %s (go test -update to accept):\n got:\n%s\nwant:\n%s", golden, got, want)
	}
	for _, want := range []string{`"v":2,`, `"bytes_down":103705,`, `"duration_ms":177,`, `"penalty_ms":5000}`, `"time":"2026-03-01T12:00:01Z"`, `"k":-1,"k~2":"\u003ca\u0026b\u003e\\u2028"`} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("stored records lack %s", want)
		}
	}
}

func TestFirstFormatLogStillVerifies(t *testing.T) {
	// testdata/v1.log was written by the first-format writer (every field a
	// string, no "v"); new records chain onto it.
	data, err := os.ReadFile(filepath.Join("testdata", "v1.log"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, data, 0o600)
	mustVerifyOK(t, path, 5)
	l, err := Open(path, Options{Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(Event{Type: "jump.close", Num: map[string]int64{"bytes_up": 1}}); err != nil {
		t.Fatal(err)
	}
	mustVerifyOK(t, path, 6)
	recs, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if old, cur := recs[3], recs[5]; old.V != 0 || old.Fields["bytes_down"] != "103705" || cur.V != Version || cur.Num["bytes_up"] != 1 {
		t.Fatalf("first-format record %+v, new record %+v", old, cur)
	}
	// A number smuggled into a first-format record is not canonical.
	if _, err := ParseRecord(bytes.Replace(bytes.Split(data, []byte("\n"))[3], []byte(`"103705"`), []byte(`103705`), 1)); err == nil {
		t.Fatal("a first-format record with a number parsed")
	}
}
