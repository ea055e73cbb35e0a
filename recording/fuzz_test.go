package recording

import (
	"bytes"
	"io"
	"testing"
	"unicode/utf8"
)

// FuzzReader feeds arbitrary bytes to the recording reader and the plain-text
// filter: errors are fine, panics and invalid UTF-8 out are not.
func FuzzReader(f *testing.F) {
	f.Add([]byte("{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"\\u001b[1mhi\\r\\n\"]\n[1,\"r\",\"80x24\"]\n"))
	f.Add([]byte("{\"version\":2,\"width\":1,\"height\":1}\n[1e308,\"i\",\"\"]\n[0,\"o\""))
	f.Add([]byte("\x1b]0;\x07\x9b1m"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		NewPlain(&out).Write(data)
		if !utf8.Valid(out.Bytes()) {
			t.Fatalf("Plain produced invalid UTF-8 from %q", data)
		}
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; ; i++ {
			ev, err := rd.Next()
			if err != nil {
				if err != io.EOF && i > len(data) {
					t.Fatal("more events than bytes")
				}
				return
			}
			if !utf8.ValidString(ev.Data) || ev.Time < 0 {
				t.Fatalf("bad event %+v", ev)
			}
		}
	})
}
