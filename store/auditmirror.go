// The audit records of every replica, shared through the state database:
// each replica writes the lines of its local hash-chained log, keyed by its
// replica id and the record's seq, so any host can show and verify them
// all. The store keeps the lines verbatim; package audit parses and checks
// them.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// AuditRow is one audit record of one replica, as its log stored it.
type AuditRow struct {
	Replica string
	Seq     uint64
	At      int64  // the record's time, Unix nanoseconds
	Line    []byte // the record's line, newline excluded
}

// AuditPageSize is how many rows one read returns at most: readers page
// on. Tests shrink it.
var AuditPageSize = 5000

// AppendAudit stores the record seq of replica (its stored line, written at
// at). A seq the replica already has is refused: two hosts configured with
// the same replica_id would otherwise interleave one chain.
func (s *Store) AppendAudit(ctx context.Context, replica string, seq uint64, at time.Time, line []byte) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	line = bytes.TrimSuffix(line, []byte("\n"))
	_, err := s.exec(ctx, s.db, `INSERT INTO audit_records (replica, seq, at_ns, line) VALUES (?, ?, ?, ?)`,
		replica, int64(seq), at.UnixNano(), string(line))
	if errors.Is(err, errUnique) {
		return fmt.Errorf("audit record seq %d of replica %q is already in the state database: does another host use replica_id %q?", seq, replica, replica)
	}
	return err
}

// AuditByTime returns up to AuditPageSize records of every replica, merged
// in time order (ties by replica, then seq), that come after the row after
// (zero: from the start) and were written at or after since. Pass the last
// row returned to read the next page.
func (s *Store) AuditByTime(ctx context.Context, after AuditRow, since time.Time) ([]AuditRow, error) {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixNano()
	}
	if after.Replica == "" {
		return s.auditQuery(ctx, `SELECT replica, seq, at_ns, line FROM audit_records WHERE at_ns >= ?
			ORDER BY at_ns, replica, seq LIMIT ?`, from, AuditPageSize)
	}
	return s.auditQuery(ctx, `SELECT replica, seq, at_ns, line FROM audit_records WHERE at_ns >= ?
		AND (at_ns > ? OR at_ns = ? AND (replica > ? OR replica = ? AND seq > ?))
		ORDER BY at_ns, replica, seq LIMIT ?`,
		from, after.At, after.At, after.Replica, after.Replica, int64(after.Seq), AuditPageSize)
}

// AuditChain returns up to AuditPageSize records of replica after seq
// after, in seq order.
func (s *Store) AuditChain(ctx context.Context, replica string, after uint64) ([]AuditRow, error) {
	return s.auditQuery(ctx, `SELECT replica, seq, at_ns, line FROM audit_records WHERE replica = ? AND seq > ? ORDER BY seq LIMIT ?`,
		replica, int64(after), AuditPageSize)
}

// AuditReplicas returns the newest seq of every replica with records.
func (s *Store) AuditReplicas(ctx context.Context) (map[string]uint64, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT replica, MAX(seq) FROM audit_records GROUP BY replica`)
	if err != nil {
		return nil, s.unavailable(err)
	}
	defer rows.Close()
	tips := map[string]uint64{}
	for rows.Next() {
		var r string
		var seq int64
		if err := rows.Scan(&r, &seq); err != nil {
			return nil, s.unavailable(err)
		}
		tips[r] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(err)
	}
	return tips, nil
}

// AuditAfter returns the records newer than after (the last seq seen per
// replica; a replica missing from it is new), by replica, each in seq
// order, up to a page per replica. It is what `bastion audit --follow` polls.
func (s *Store) AuditAfter(ctx context.Context, after map[string]uint64) ([]AuditRow, error) {
	tips, err := s.AuditReplicas(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(tips))
	for r, tip := range tips {
		if tip > after[r] {
			names = append(names, r)
		}
	}
	sort.Strings(names)
	var out []AuditRow
	for _, r := range names {
		rows, err := s.AuditChain(ctx, r, after[r])
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

func (s *Store) auditQuery(ctx context.Context, q string, args ...any) ([]AuditRow, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return nil, s.unavailable(err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var r AuditRow
		var seq int64
		var line string
		if err := rows.Scan(&r.Replica, &seq, &r.At, &line); err != nil {
			return nil, s.unavailable(err)
		}
		r.Seq, r.Line = uint64(seq), []byte(line)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(err)
	}
	return out, nil
}
