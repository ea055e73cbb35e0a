// Defence in depth: every Event is bounded and made valid UTF-8 before it is
// chained, so Append never writes a record that ParseRecord rejects, and no
// record is ever too large to write (it is cut, with a marker, not dropped).

package audit

import (
	"fmt"
	"maps"
	"slices"

	"bastion/untrusted"
)

// Bounds on one event, in bytes (before JSON escaping, which at most
// multiplies a byte by 6). With them a record stays far below maxLineSize.
const (
	maxTypeLen   = 64
	maxShortLen  = 256 // user, source, result, conn_id
	maxTargetLen = 512
	maxKeyLen    = 64
	maxValueLen  = 4096
	maxFields    = 32
)

// sanitize returns e with every string bounded and valid, printable UTF-8.
// Callers clean outside strings where they enter (package untrusted); this
// is the last line, so one missed call site cannot stop the log.
func sanitize(e Event) Event {
	e.Type = untrusted.Text(e.Type, maxTypeLen)
	e.User = untrusted.Text(e.User, maxShortLen)
	e.Source = untrusted.Text(e.Source, maxShortLen)
	e.Target = untrusted.Text(e.Target, maxTargetLen)
	e.Result = untrusted.Text(e.Result, maxShortLen)
	e.ConnID = untrusted.Text(e.ConnID, maxShortLen)
	if len(e.Fields) == 0 {
		e.Fields = nil
		return e
	}
	keys := slices.Sorted(maps.Keys(e.Fields))
	out := make(map[string]string, min(len(keys), maxFields))
	for i, k := range keys {
		if i == maxFields-1 && len(keys) > maxFields {
			out[unique(out, "fields_cut")] = fmt.Sprint(len(keys) - i)
			break
		}
		out[unique(out, untrusted.Text(k, maxKeyLen))] = untrusted.Text(e.Fields[k], maxValueLen)
	}
	e.Fields = out
	return e
}

// unique returns k, or k with a "~N" suffix if two different raw keys
// cleaned to the same text: no field is lost.
func unique(m map[string]string, k string) string {
	if _, taken := m[k]; !taken {
		return k
	}
	for n := 2; ; n++ {
		c := fmt.Sprintf("%s~%d", k, n)
		if _, taken := m[c]; !taken {
			return c
		}
	}
}
