// The replica id: which bastion of a PostgreSQL-shared set wrote an audit record.

package config

import (
	"fmt"
	"os"
)

// maxReplicaID bounds replica_id (and the host name used in its place).
const maxReplicaID = 64

// ReplicaName returns replica_id, or the host name when it is empty.
func (c *Config) ReplicaName() (string, error) {
	if c.ReplicaID != "" {
		return c.ReplicaID, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("replica_id is empty and the host name is unknown (%v): set replica_id", err)
	}
	if err := checkReplicaID(h); err != nil {
		return "", fmt.Errorf("replica_id is empty and the host name %q will not do (%v): set replica_id", h, err)
	}
	return h, nil
}

// checkReplicaID allows 1..64 letters, digits, '.', '-' and '_'.
func checkReplicaID(s string) error {
	if len(s) == 0 || len(s) > maxReplicaID {
		return fmt.Errorf("want 1..%d characters", maxReplicaID)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%q: only letters, digits, '.', '-' and '_'", s)
		}
	}
	return nil
}
