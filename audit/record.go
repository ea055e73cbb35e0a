// Record encoding: the canonical JSON form, the chain hash and the strict parser.

package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// zeroHash is the Prev of the first record of a log.
const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// maxLineSize bounds one stored record, newline excluded. Append refuses larger
// records and readers treat longer lines as corruption.
const maxLineSize = 1 << 20

// Event is one audit record as the caller supplies it.
type Event struct {
	// Type names what happened, e.g. "auth.otp", "login.failure", "jump.open".
	// It is required.
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
	// Fields holds free-form details such as fingerprint, dest, bytes_up,
	// duration or reason.
	Fields map[string]string `json:"fields,omitempty"`
}

// Record is an Event as stored: numbered, timed and chained.
type Record struct {
	// Seq starts at 1 and grows by one per record, across rotated files.
	Seq uint64 `json:"seq"`
	// Time is when the record was appended, in UTC.
	Time time.Time `json:"time"`
	// Prev is the Hash of the previous record, or 64 zeros for the first.
	Prev string `json:"prev"`
	// Hash is the hex SHA-256 of the record's canonical encoding without Hash.
	Hash string `json:"hash"`
	Event
}

// wireRecord is the stored form of a Record. Its field order is the canonical
// order that the hashes depend on: never reorder, rename or retype a field.
// encoding/json sorts the Fields map keys, so the encoding is deterministic.
type wireRecord struct {
	Seq    uint64            `json:"seq"`
	Time   string            `json:"time"`
	Prev   string            `json:"prev"`
	Type   string            `json:"type"`
	User   string            `json:"user,omitempty"`
	Source string            `json:"source,omitempty"`
	Target string            `json:"target,omitempty"`
	Result string            `json:"result,omitempty"`
	ConnID string            `json:"conn_id,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
	Hash   string            `json:"hash,omitempty"`
}

func toWire(r Record) wireRecord {
	return wireRecord{
		Seq: r.Seq, Time: r.Time.UTC().Format(time.RFC3339Nano), Prev: r.Prev,
		Type: r.Type, User: r.User, Source: r.Source, Target: r.Target,
		Result: r.Result, ConnID: r.ConnID, Fields: r.Fields, Hash: r.Hash,
	}
}

func marshalWire(w wireRecord) []byte {
	b, err := json.Marshal(w)
	if err != nil {
		// Cannot happen: the struct holds only strings, a uint64 and a string map.
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
// strict: unknown or duplicate keys, missing required fields, malformed
// hashes or times and any byte that differs from the canonical encoding are
// errors. It does not check Hash against the content; Verify does.
func ParseRecord(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	switch {
	case w.Seq == 0:
		return Record{}, errors.New("record has no seq")
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
			Result: w.Result, ConnID: w.ConnID, Fields: w.Fields},
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
