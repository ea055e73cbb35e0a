package main

import (
	"testing"
	"time"

	"bastion/audit"
)

func TestSessionIndex(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	rec := func(typ, user, id string, f map[string]string, num map[string]int64) audit.Record {
		if f == nil {
			f = map[string]string{}
		}
		f["session_id"] = id
		return audit.Record{Time: t0, Event: audit.Event{Type: typ, User: user, Target: "pve1", Fields: f, Num: num}}
	}
	got := sessionIndex([]audit.Record{
		rec("session.open", "alice", "a", map[string]string{"login": "root", "recording": "a.cast"}, nil),
		rec("session.open", "bob", "b", map[string]string{"login": "admin"}, nil),
		rec("jump.open", "bob", "b", nil, nil),
		rec("session.close", "alice", "a", map[string]string{"recording_sha256": "ff"}, map[string]int64{"exit_status": 3, "recording_size": 10, "duration_ms": 1500}),
		rec("session.close", "carol", "zz", nil, nil), // no open: ignored
	})
	if len(got) != 2 {
		t.Fatalf("got %d sessions", len(got))
	}
	a, b := got[0], got[1]
	if a.ID != "a" || !a.Closed || a.Exit != "3" || a.SHA256 != "ff" || a.Size != "10" || a.Duration != "1.5s" || a.Login != "root" || a.Recording != "a.cast" {
		t.Errorf("alice's session %+v", a)
	}
	if b.ID != "b" || b.Closed || b.Login != "admin" {
		t.Errorf("bob's session %+v", b)
	}
}
