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
	if len(e.Fields)+len(e.Num) == 0 {
		e.Fields, e.Num = nil, nil
		return e
	}
	fields, num := make(map[string]string, len(e.Fields)), make(map[string]int64, len(e.Num))
	taken := func(k string) bool {
		_, inF := fields[k]
		_, inN := num[k]
		return inF || inN
	}
	left := maxFields
	for _, k := range slices.Sorted(maps.Keys(e.Num)) {
		if left == 1 && len(e.Num)+len(e.Fields) > maxFields {
			break
		}
		num[unique(taken, untrusted.Text(k, maxKeyLen))] = e.Num[k]
		left--
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		if left == 1 && len(e.Num)+len(e.Fields) > maxFields {
			break
		}
		fields[unique(taken, untrusted.Text(k, maxKeyLen))] = untrusted.Text(e.Fields[k], maxValueLen)
		left--
	}
	if cut := len(e.Num) + len(e.Fields) - (len(num) + len(fields)); cut > 0 {
		num[unique(taken, "fields_cut")] = int64(cut)
	}
	e.Fields, e.Num = nil, nil
	if len(fields) > 0 {
		e.Fields = fields
	}
	if len(num) > 0 {
		e.Num = num
	}
	return e
}

// unique returns k, or k with a "~N" suffix if it is taken (two different
// raw keys cleaned to the same text, or a key in both Fields and Num): no
// field is lost.
func unique(taken func(string) bool, k string) string {
	if !taken(k) {
		return k
	}
	for n := 2; ; n++ {
		if c := fmt.Sprintf("%s~%d", k, n); !taken(c) {
			return c
		}
	}
}
