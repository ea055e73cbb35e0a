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
	"sort"
	"time"
)

// AuditRow is one audit record of one replica, as its log stored it.
type AuditRow struct {
	Replica string
	Seq     uint64
	Line    []byte // the record's line, newline excluded
}

// maxAuditRows bounds what one read returns, so a huge table cannot
// exhaust memory; readers page on with AuditAfter.
const maxAuditRows = 100_000

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

// AuditRecords returns every replica's records merged in time order (ties
// by replica, then seq).
func (s *Store) AuditRecords(ctx context.Context) ([]AuditRow, error) {
	return s.auditQuery(ctx, `SELECT replica, seq, line FROM audit_records ORDER BY at_ns, replica, seq LIMIT ?`, maxAuditRows+1)
}

// AuditChains returns each replica's records in seq order, replicas by name.
func (s *Store) AuditChains(ctx context.Context) ([]AuditRow, error) {
	return s.auditQuery(ctx, `SELECT replica, seq, line FROM audit_records ORDER BY replica, seq LIMIT ?`, maxAuditRows+1)
}

// AuditAfter returns the records newer than after (the last seq seen per
// replica; a replica missing from it is new), by replica, each in seq
// order. It is what `bastion audit --follow` polls.
func (s *Store) AuditAfter(ctx context.Context, after map[string]uint64) ([]AuditRow, error) {
	tips, err := s.auditTips(ctx)
	if err != nil {
		return nil, err
	}
	var out []AuditRow
	for replica, tip := range tips {
		if tip <= after[replica] {
			continue
		}
		rows, err := s.auditQuery(ctx, `SELECT replica, seq, line FROM audit_records WHERE replica = ? AND seq > ? ORDER BY seq LIMIT ?`,
			replica, int64(after[replica]), maxAuditRows+1)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out, nil
}

// auditTips returns the newest seq of every replica.
func (s *Store) auditTips(ctx context.Context) (map[string]uint64, error) {
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
		if err := rows.Scan(&r.Replica, &seq, &line); err != nil {
			return nil, s.unavailable(err)
		}
		r.Seq, r.Line = uint64(seq), []byte(line)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.unavailable(err)
	}
	if len(out) > maxAuditRows {
		return nil, fmt.Errorf("more than %d audit records in the state database: this bastion reads at most that many at once", maxAuditRows)
	}
	return out, nil
}
