// Micro-benchmarks for hot paths whose packages have none: audit append
// (one record per auth step and per jump, fsynced).
package bench

import (
	"path/filepath"
	"testing"

	"bastion/audit"
)

func BenchmarkAuditAppend(b *testing.B) {
	l, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := audit.Event{Type: "jump.open", User: "alice", ConnID: "c0ffee", Source: "127.0.0.1:50000",
		Fields: map[string]string{"target": "127.0.0.1:22"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
}
