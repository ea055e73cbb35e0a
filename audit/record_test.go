// Tests of the canonical encoding and the strict parser.

package audit

import (
	"strings"
	"testing"
)

func validLine(t testing.TB) string {
	r := Record{Seq: 1, Time: t0, Prev: zeroHash, Event: Event{Type: "login.success", User: "alice",
		Source: "192.0.2.1:5555", Result: "ok", ConnID: "c1", Fields: map[string]string{"b": "2", "a": "<1>"}}}
	r.Hash = hashOf(r)
	return strings.TrimSuffix(string(encodeLine(r)), "\n")
}

func TestCanonicalEncodingIsFixed(t *testing.T) {
	// The hash depends on these exact bytes; changing the layout breaks every existing log.
	want := `{"seq":1,"time":"2026-03-01T12:00:00Z","prev":"` + zeroHash +
		`","type":"login.success","user":"alice","source":"192.0.2.1:5555","result":"ok","conn_id":"c1",` +
		`"fields":{"a":"\u003c1\u003e","b":"2"},"hash":"`
	if line := validLine(t); !strings.HasPrefix(line, want) {
		t.Fatalf("canonical line\n got %s\nwant %s...", line, want)
	}
}

func TestParseRecordRejects(t *testing.T) {
	line := validLine(t)
	if _, err := ParseRecord([]byte(line)); err != nil {
		t.Fatalf("valid line rejected: %v", err)
	}
	if _, err := ParseRecord([]byte(line + "\n")); err != nil {
		t.Fatalf("valid line with newline rejected: %v", err)
	}
	bad := map[string]string{
		"empty":          "",
		"not json":       "hello",
		"trailing data":  line + "{}",
		"space":          strings.Replace(line, `"seq":1`, `"seq": 1`, 1),
		"unknown field":  strings.Replace(line, `{"seq":1,`, `{"seq":1,"x":1,`, 1),
		"duplicate key":  strings.Replace(line, `"user":"alice"`, `"user":"alice","user":"bob"`, 1),
		"seq zero":       strings.Replace(line, `"seq":1`, `"seq":0`, 1),
		"no type":        strings.Replace(line, `"type":"login.success",`, ``, 1),
		"short prev":     strings.Replace(line, zeroHash, "00", 1),
		"upper hex hash": line[:len(line)-66] + strings.ToUpper(line[len(line)-66:]),
		"local time":     strings.Replace(line, "12:00:00Z", "13:00:00+01:00", 1),
		"bad time":       strings.Replace(line, "2026-03-01T12:00:00Z", "yesterday", 1),
		"null fields":    strings.Replace(line, `"fields":{"a":"\u003c1\u003e","b":"2"}`, `"fields":null`, 1),
		"unescaped html": strings.Replace(line, `\u003c1\u003e`, `<1>`, 1),
		"two lines":      line + "\n" + line,
	}
	for name, l := range bad {
		if l == line {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := ParseRecord([]byte(l)); err == nil {
			t.Errorf("%s: ParseRecord accepted %q", name, l)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(validLine(f)))
	f.Add([]byte(validLine(f) + "\n"))
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte("\x1b[2J\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes.
		if got := strings.TrimSuffix(string(encodeLine(r)), "\n"); got != strings.TrimSuffix(string(line), "\n") {
			t.Fatalf("round trip changed the record:\n in %q\nout %q", line, got)
		}
	})
}
