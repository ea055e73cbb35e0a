// Tests for the `state` key: a file path or a PostgreSQL URL without a password.
package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStatePostgresURL(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse([]byte(`state = "postgres://bastion@db1:5432/bastion?sslmode=verify-full"
state_password_file = "secrets/pg.pass"`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ResolvePaths(dir)
	if cfg.State != "postgres://bastion@db1:5432/bastion?sslmode=verify-full" {
		t.Errorf("the URL was treated as a path: %q", cfg.State)
	}
	if want := filepath.Join(dir, "secrets/pg.pass"); cfg.StatePasswordFile != want {
		t.Errorf("state_password_file = %q, want %q", cfg.StatePasswordFile, want)
	}
	// The other state files stay at their defaults beside the config, not "beside" the URL.
	if want := filepath.Join(dir, "state/state.key"); cfg.StateKey != want {
		t.Errorf("state_key = %q, want %q", cfg.StateKey, want)
	}
	if cfg.StateMaxConns != 10 || cfg.StateQueryTimeout.Seconds() != 5 {
		t.Errorf("pool defaults: %d conns, %v", cfg.StateMaxConns, cfg.StateQueryTimeout)
	}
}

func TestStateURLRefused(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`state = "postgres://bastion:hunter2@db1/bastion"`, "password"},
		{`state = "postgres://bastion@db1/bastion?password=hunter2"`, "password"},
		{`state = "postgres://bastion@db1"`, "DATABASE"},
		{`state = "postgresql:///bastion"`, "DATABASE"},
		{`state_max_conns = 0`, "state_max_conns"},
		{`state_query_timeout = "0s"`, "state_query_timeout"},
	} {
		_, err := Parse([]byte(tc.conf))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", tc.conf, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error repeats the password: %v", tc.conf, err)
		}
	}
}
