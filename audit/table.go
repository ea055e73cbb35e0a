// WriteTable: the human-readable view of records, safe to print on a terminal.

package audit

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

const tableTime = "2006-01-02 15:04:05"

// WriteTable writes recs as an aligned table, oldest first and newest last,
// with columns TIME (UTC), SEQ, TYPE, RESULT, USER, SOURCE, TARGET and
// DETAILS (Fields as sorted k=v pairs). Every stored string is printed with
// control characters, ANSI escapes, invalid UTF-8 and other non-printing
// runes escaped (`\x1b`, `\u202e`), and a backslash doubled, so no value can
// start a new row or drive the terminal.
func WriteTable(w io.Writer, recs []Record) error {
	sorted := slices.SortedStableFunc(slices.Values(recs), func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEQ\tTYPE\tRESULT\tUSER\tSOURCE\tTARGET\tDETAILS")
	for _, r := range sorted {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.UTC().Format(tableTime), r.Seq, cell(r.Type), cell(r.Result),
			cell(r.User), cell(r.Source), cell(r.Target), details(r.Fields, r.Num))
	}
	return tw.Flush()
}

// cell is a printable table cell; "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

// details renders fields and numbers as k=v pairs sorted by key. A key or
// value that is empty or holds a space, '=' or '"' is quoted so it cannot
// pose as another pair.
func details(fields map[string]string, num map[string]int64) string {
	if len(fields)+len(num) == 0 {
		return "-"
	}
	all := make(map[string]string, len(fields)+len(num))
	maps.Copy(all, fields)
	for k, n := range num {
		all[k] = strconv.FormatInt(n, 10)
	}
	pairs := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		pairs = append(pairs, token(k)+"="+token(all[k]))
	}
	return strings.Join(pairs, " ")
}

func token(s string) string {
	if s == "" || strings.ContainsAny(s, " =\"") {
		return strconv.Quote(s) // escapes every non-printing rune too
	}
	return printable(s)
}

// printable returns s with every byte that could move the cursor, change the
// terminal's state or hide text replaced by a visible escape.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}
