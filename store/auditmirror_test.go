package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bastion/audit"
)

// mirroredLog opens an audit log in a temp dir whose records also go to s
// as replica, with a clock that advances one second per record from start.
func mirroredLog(t *testing.T, s *Store, replica string, start time.Time) *audit.Log {
	t.Helper()
	now := start
	l, err := audit.Open(filepath.Join(t.TempDir(), "audit.log"), audit.Options{
		Now: func() time.Time { now = now.Add(time.Second); return now },
		Mirror: func(r audit.Record, line []byte) error {
			return s.AppendAudit(context.Background(), replica, r.Seq, r.Time, line)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestAuditMirror: two replicas' logs go to one state as two chains; they
// read back merged in time order, each chain verifies with audit's rules,
// an altered row breaks its chain, and a second host with the same
// replica id is refused.
func TestAuditMirror(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		s := b.store(t)
		ctx := context.Background()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		a := mirroredLog(t, s, "a", t0)
		bl := mirroredLog(t, s, "b", t0.Add(500*time.Millisecond))
		for i := 0; i < 3; i++ {
			if err := a.Append(audit.Event{Type: "login.success", User: "alice"}); err != nil {
				t.Fatal(err)
			}
			if err := bl.Append(audit.Event{Type: "login.success", User: "bob"}); err != nil {
				t.Fatal(err)
			}
		}
		defer func(n int) { AuditPageSize = n }(AuditPageSize)
		AuditPageSize = 4 // two pages: the cursor carries on in time order
		var got []string
		for page, last := 0, (AuditRow{}); ; page++ {
			rows, err := s.AuditByTime(ctx, last, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 || page > 3 {
				break
			}
			for _, r := range rows {
				got = append(got, r.Replica)
			}
			last = rows[len(rows)-1]
		}
		// a writes at t0+1s, +2s, +3s; b at t0+1.5s, +2.5s, +3.5s.
		if since, err := s.AuditByTime(ctx, AuditRow{}, t0.Add(2400*time.Millisecond)); err != nil || len(since) != 3 || since[0].Replica != "b" || since[0].Seq != 2 {
			t.Fatalf("since t0+2.4s: %d rows (first %s:%d), %v; want 3, b:2 first", len(since), since[0].Replica, since[0].Seq, err)
		}
		if strings.Join(got, "") != "ababab" {
			t.Fatalf("merged order %q, want ababab (a at whole seconds, b half a second later)", strings.Join(got, ""))
		}
		chains := verifyAll(t, s)
		if len(chains) != 2 || !chains["a"].OK || !chains["b"].OK || chains["a"].Records != 3 || chains["b"].LastSeq != 3 {
			t.Fatalf("chains %+v: want a and b intact, 3 records each", chains)
		}

		more, err := s.AuditAfter(ctx, map[string]uint64{"a": 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(more) != 4 || more[0].Replica != "a" || more[0].Seq != 3 || more[1].Replica != "b" || more[1].Seq != 1 {
			t.Fatalf("after a:2: %+v: want a:3 then b:1..3", more)
		}

		twin := mirroredLog(t, s, "a", t0)
		if err := twin.Append(audit.Event{Type: "login.success"}); err == nil || !strings.Contains(err.Error(), `replica_id "a"`) {
			t.Fatalf("second host as replica a: err %v, want the replica_id clash", err)
		}

		if _, err := s.db.Exec(s.d.bind(`UPDATE audit_records SET line = REPLACE(line, 'bob', 'eve') WHERE replica = ? AND seq = 2`), "b"); err != nil {
			t.Fatal(err)
		}
		chains = verifyAll(t, s)
		if !chains["a"].OK || chains["b"].OK || chains["b"].BreakSeq != 2 || !strings.Contains(chains["b"].Reason, "hash mismatch") {
			t.Fatalf("after altering b seq 2: %+v", chains)
		}
	})
}

func verifyAll(t *testing.T, s *Store) map[string]audit.VerifyResult {
	t.Helper()
	tips, err := s.AuditReplicas(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]audit.VerifyResult{}
	for replica := range tips {
		v := audit.NewChainVerifier(replica, nil)
		for after := uint64(0); ; {
			rows, err := s.AuditChain(context.Background(), replica, after)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				break
			}
			for _, r := range rows {
				v.Feed(r.Line)
			}
			after = rows[len(rows)-1].Seq
		}
		out[replica] = v.Result()
	}
	return out
}

// TestAuditMirrorDown: when the database cannot take the record, Append
// fails and the local file does not keep it either, so the next record
// still chains in both.
func TestAuditMirrorDown(t *testing.T) {
	s := postgresBackend.store(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.Open(path, audit.Options{Mirror: func(r audit.Record, line []byte) error {
		return s.AppendAudit(context.Background(), "a", r.Seq, r.Time, line)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(audit.Event{Type: "login.success"}); err != nil {
		t.Fatal(err)
	}
	s.db.Close() // the database is gone for this store
	if err := l.Append(audit.Event{Type: "login.success", User: "lost"}); err == nil {
		t.Fatal("append succeeded with the database closed: want fail closed")
	}
	recs, err := audit.ReadAll(path)
	if err != nil || len(recs) != 1 {
		t.Fatalf("local log after the failed append: %d records, %v; want only the first", len(recs), err)
	}
}
