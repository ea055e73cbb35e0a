// Tests for path resolution and the printed effective config.
package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadResolvesAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "config.toml")
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("host_key_dir = \"keys\"\nstate = \"../var/bastion.db\"\naudit_log = \"/abs/audit.log\"\n"), 0o600)
	for _, wd := range []string{dir, filepath.Join(dir, "etc"), "/"} {
		t.Chdir(wd)
		rel, _ := filepath.Rel(wd, path)
		cfg, err := Load(rel)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"host_key_dir": filepath.Join(dir, "etc", "keys"),
			"state":        filepath.Join(dir, "var", "bastion.db"),
			"state_key":    filepath.Join(dir, "var", "state.key"), // beside state
			"audit_log":    "/abs/audit.log",
		}
		for k, p := range cfg.Paths() {
			if *p != want[k] {
				t.Errorf("from %s: %s = %q, want %q", wd, k, *p, want[k])
			}
		}
	}
}

func TestStateKeyBesideState(t *testing.T) {
	cfg, err := Parse([]byte(`state = "/var/lib/bastion/bastion.db"`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateKey != "/var/lib/bastion/state.key" {
		t.Errorf("state_key = %q, want it beside state", cfg.StateKey)
	}
	cfg, err = Parse([]byte("state = \"/var/lib/bastion/bastion.db\"\nstate_key = \"/etc/bastion/state.key\""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateKey != "/etc/bastion/state.key" {
		t.Errorf("an explicit state_key was overridden: %q", cfg.StateKey)
	}
}

func TestTOMLRoundTrips(t *testing.T) {
	data, err := os.ReadFile("../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(append(data, "\n[[target]]\nname = \"db\"\naddress = \"db:5432\"\nusers = [\"a\\\"b\"]\ngroups = []\n"...))
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.TOML()
	back, err := Parse([]byte(out))
	if err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(cfg, back) {
		t.Errorf("round trip changed the config:\n%s", out)
	}
}

func TestRedaction(t *testing.T) {
	type inner struct {
		DSN      string `koanf:"dsn"`
		Password string `koanf:"password" secret:"true"`
		Empty    string `koanf:"empty" secret:"true"`
	}
	var b strings.Builder
	writeTable(&b, "", reflect.ValueOf(struct {
		DB inner `koanf:"db"`
	}{inner{DSN: "postgres://bastion:hunter2@db:5432/bastion", Password: "hunter2"}}))
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret printed:\n%s", out)
	}
	for _, want := range []string{`password = "<redacted>"`, `dsn = "postgres://bastion:<redacted>@db:5432/bastion"`, `empty = ""`} {
		if !strings.Contains(out, want) {
			t.Errorf("want %s in:\n%s", want, out)
		}
	}
}
