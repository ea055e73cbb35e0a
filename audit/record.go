// Record encoding: the canonical JSON form, the chain hash and the strict parser.

package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// zeroHash is the Prev of the first record of a log.
const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// maxLineSize bounds one stored record, newline excluded. Append refuses larger
// records and readers treat longer lines as corruption.
const maxLineSize = 1 << 20

// Version is the record format Append writes: records carry "v":2 and
// their "fields" object holds JSON strings and integers. Records without
// "v" are the first format (every field a string); they still parse and
// verify, with the hash of their own encoding.
const Version = 2

// Event is one audit record as the caller supplies it.
type Event struct {
	// Type names what happened, e.g. "auth.otp", "login.failure", "jump.open".
	// It is required. docs/audit.md lists every type and its fields.
	Type string `json:"type"`
	// User is the account the event concerns, if any.
	User string `json:"user,omitempty"`
	// Source is the client address (ip:port) as seen on the socket.
	Source string `json:"source,omitempty"`
	// Target is the name of the jump target, if any.
	Target string `json:"target,omitempty"`
	// Result is "ok", "fail" or empty when the event has no outcome.
	Result string `json:"result,omitempty"`
	// ConnID ties together the events of one connection.
	ConnID string `json:"conn_id,omitempty"`
	// Fields holds text details such as fingerprint, dest or reason.
	Fields map[string]string `json:"-"`
	// Num holds numeric details: byte counts, counters, durations in
	// milliseconds (keys ending in _ms). They are stored as JSON numbers in
	// the same "fields" object as Fields; a key in both keeps the number and
	// the text moves to key~2.
	Num map[string]int64 `json:"-"`
}

// Record is an Event as stored: numbered, timed and chained.
type Record struct {
	// Seq starts at 1 and grows by one per record, across rotated files.
	Seq uint64
	// V is the format version (0 for the first format, else Version).
	V int
	// Time is when the record was appended, in UTC.
	Time time.Time
	// Prev is the Hash of the previous record, or 64 zeros for the first.
	Prev string
	// Hash is the hex SHA-256 of the record's canonical encoding without Hash.
	Hash string
	Event
}

// MarshalJSON returns the record exactly as stored (its canonical line).
func (r Record) MarshalJSON() ([]byte, error) { return marshalWire(toWire(r)), nil }

// wireRecord is the stored form of a Record. Its field order is the canonical
// order that the hashes depend on: never reorder, rename or retype a field.
// encoding/json sorts the Fields map keys, so the encoding is deterministic.
type wireRecord struct {
	Seq    uint64         `json:"seq"`
	V      int            `json:"v,omitempty"`
	Time   string         `json:"time"`
	Prev   string         `json:"prev"`
	Type   string         `json:"type"`
	User   string         `json:"user,omitempty"`
	Source string         `json:"source,omitempty"`
	Target string         `json:"target,omitempty"`
	Result string         `json:"result,omitempty"`
	ConnID string         `json:"conn_id,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
	Hash   string         `json:"hash,omitempty"`
}

// wireIn is what ParseRecord decodes before checking the version.
type wireIn struct {
	Seq    uint64                     `json:"seq"`
	V      *int                       `json:"v"`
	Time   string                     `json:"time"`
	Prev   string                     `json:"prev"`
	Type   string                     `json:"type"`
	User   string                     `json:"user"`
	Source string                     `json:"source"`
	Target string                     `json:"target"`
	Result string                     `json:"result"`
	ConnID string                     `json:"conn_id"`
	Fields map[string]json.RawMessage `json:"fields"`
	Hash   string                     `json:"hash"`
}

func toWire(r Record) wireRecord {
	var f map[string]any
	if len(r.Fields)+len(r.Num) > 0 {
		f = make(map[string]any, len(r.Fields)+len(r.Num))
		for k, v := range r.Fields {
			f[k] = v
		}
		for k, v := range r.Num {
			f[k] = v
		}
	}
	return wireRecord{
		Seq: r.Seq, V: r.V, Time: r.Time.UTC().Format(time.RFC3339Nano), Prev: r.Prev,
		Type: r.Type, User: r.User, Source: r.Source, Target: r.Target,
		Result: r.Result, ConnID: r.ConnID, Fields: f, Hash: r.Hash,
	}
}

func marshalWire(w wireRecord) []byte {
	b, err := json.Marshal(w)
	if err != nil {
		// Cannot happen: the struct holds only strings, integers and a map of them.
		panic("audit: marshal record: " + err.Error())
	}
	return b
}

// hashOf returns the hash r should carry: the SHA-256 of its canonical
// encoding with Hash left out.
func hashOf(r Record) string {
	w := toWire(r)
	w.Hash = ""
	sum := sha256.Sum256(marshalWire(w))
	return hex.EncodeToString(sum[:])
}

// encodeLine returns the stored line of r, newline included.
func encodeLine(r Record) []byte {
	return append(marshalWire(toWire(r)), '\n')
}

// ParseRecord decodes one stored line (a trailing newline is allowed). It is
// strict: unknown or duplicate keys, missing required fields, an unknown
// version, a number in a first-format record, a field value that is neither
// a string nor an integer, malformed hashes or times and any byte that
// differs from the canonical encoding are errors. It does not check Hash
// against the content; Verify does.
func ParseRecord(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wireIn
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	switch {
	case w.Seq == 0:
		return Record{}, errors.New("record has no seq")
	case w.V != nil && *w.V != Version:
		return Record{}, fmt.Errorf("record version %d is not known", *w.V)
	case w.Type == "":
		return Record{}, errors.New("record has no type")
	case !isHash(w.Prev):
		return Record{}, errors.New("record prev is not a hex SHA-256")
	case !isHash(w.Hash):
		return Record{}, errors.New("record hash is not a hex SHA-256")
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Record{}, fmt.Errorf("record time: %w", err)
	}
	r := Record{
		Seq: w.Seq, Time: t, Prev: w.Prev, Hash: w.Hash,
		Event: Event{Type: w.Type, User: w.User, Source: w.Source, Target: w.Target,
			Result: w.Result, ConnID: w.ConnID},
	}
	if w.V != nil {
		r.V = *w.V
	}
	for k, raw := range w.Fields {
		if len(raw) > 0 && raw[0] == '"' {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return Record{}, fmt.Errorf("field %q: %w", k, err)
			}
			if r.Fields == nil {
				r.Fields = map[string]string{}
			}
			r.Fields[k] = v
			continue
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || r.V == 0 {
			return Record{}, fmt.Errorf("field %q is neither text nor (in a version %d record) an integer", k, Version)
		}
		if r.Num == nil {
			r.Num = map[string]int64{}
		}
		r.Num[k] = n
	}
	if !bytes.Equal(marshalWire(toWire(r)), line) {
		return Record{}, errors.New("record is not in canonical form")
	}
	return r, nil
}

// isHash reports whether s is 64 lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
