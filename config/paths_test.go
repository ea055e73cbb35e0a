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

			"audit_syslog_socket": "/dev/log",
			"audit_key":           filepath.Join(dir, "var", "audit_ed25519"),
			"audit_checkpoint":    filepath.Join(dir, "var", "audit.checkpoint"),

			"upstream.known_hosts": filepath.Join(dir, "var", "known_hosts"),
			"ca.key":               filepath.Join(dir, "var", "user_ca_key"),
			"recording.dir":        filepath.Join(dir, "var", "recordings"),
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
	for key, want := range map[string]string{"state_key": "state.key", "audit_log": "audit.log", "ca.key": "user_ca_key", "recording.dir": "recordings"} {
		if got := *cfg.Paths()[key]; got != "/var/lib/bastion/"+want {
			t.Errorf("%s = %q, want it beside state", key, got)
		}
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
	data = []byte(strings.Replace(string(data), "group_cert_ttl = {}", `group_cert_ttl = { ops = "1h", "x y" = "2m" }`, 1))
	cfg, err := Parse(append(data, "\n[[target]]\nname = \"db\"\naddress = \"db:5432\"\nusers = [\"a\\\"b\"]\ngroups = []\nlogins = []\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CA.GroupCertTTL) != 2 {
		t.Fatalf("test input lost its map: %v", cfg.CA.GroupCertTTL)
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
