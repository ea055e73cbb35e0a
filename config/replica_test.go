package config

import (
	"os"
	"strings"
	"testing"
)

func TestReplicaID(t *testing.T) {
	cfg, err := Parse([]byte(`replica_id = "bastion-a.dc1"`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.ReplicaName(); err != nil || got != "bastion-a.dc1" {
		t.Fatalf("ReplicaName = %q, %v", got, err)
	}
	cfg, err = Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if got, err := cfg.ReplicaName(); err == nil && got != host {
		t.Fatalf("default ReplicaName = %q, want the host name %q", got, host)
	}
	for _, bad := range []string{`replica_id = "a b"`, `replica_id = "a\u202eb"`, `replica_id = "` + strings.Repeat("x", 65) + `"`, `replica_id = "a/b"`} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "replica_id") {
			t.Errorf("%s: err %v, want a replica_id error", bad, err)
		}
	}
}
