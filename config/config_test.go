// Tests for decoding and validating the configuration.
package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../config.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(config.toml.example): %v", err)
	}
	// The example documents the defaults: decoding it must give them back,
	// plus its one target.
	want := Default()
	want.Targets = []Target{{Name: "localhost", Address: "127.0.0.1:22", Groups: []string{"ops"}, Users: []string{}}}
	if cfg.Listen != want.Listen || !reflect.DeepEqual(cfg.Auth, want.Auth) || cfg.Argon2 != want.Argon2 ||
		cfg.Enroll != want.Enroll || cfg.Upstream != want.Upstream || cfg.ShutdownGrace != want.ShutdownGrace ||
		cfg.AuditMaxSize != want.AuditMaxSize || cfg.AuditOnFailure != want.AuditOnFailure {
		t.Errorf("example differs from Default():\n got %+v\nwant %+v", *cfg, want)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].Name != "localhost" || cfg.Targets[0].Address != "127.0.0.1:22" ||
		len(cfg.Targets[0].Groups) != 1 || cfg.Targets[0].Groups[0] != "ops" {
		t.Errorf("targets = %+v", cfg.Targets)
	}
}

func TestParseValues(t *testing.T) {
	cfg, err := Parse([]byte(`
listen = ":22"
[auth]
lockout_after = 5
lockout_time = "0s"
[enroll]
policy = "token"
[[target]]
name = "db"
address = "db.internal:2222"
users = ["alice"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":22" || cfg.Auth.LockoutAfter != 5 || cfg.Auth.LockoutTime != 0 || cfg.Enroll.Policy != PolicyToken {
		t.Errorf("values not decoded: %+v", cfg)
	}
	if cfg.Auth.MaxAuthTries != Default().Auth.MaxAuthTries {
		t.Errorf("unset key lost its default: max_auth_tries = %d", cfg.Auth.MaxAuthTries)
	}
	if len(cfg.Targets) != 1 || cfg.Targets[0].Users[0] != "alice" {
		t.Errorf("targets = %+v", cfg.Targets)
	}
	cfg, err = Parse([]byte("[ssh]\nciphers = [\"aes256-ctr\"]\n"))
	if err != nil || len(cfg.SSH.Ciphers) != 1 || cfg.SSH.Ciphers[0] != "aes256-ctr" {
		t.Errorf("[ssh] ciphers: %v, %v; want exactly [aes256-ctr]", cfg, err)
	}
}

func TestParseRejects(t *testing.T) {
	const okTarget = "[[target]]\nname = \"a\"\naddress = \"h:22\"\ngroups = [\"ops\"]\n"
	tests := []struct {
		name, toml, key string
	}{
		{"bad listen", `listen = "nohostport"`, "listen"},
		{"empty state", `state = ""`, "state"},
		{"unknown key", `lisen = "127.0.0.1:22"`, "lisen"},
		{"unknown nested key", "[auth]\nlockout = 3", "auth.lockout"},
		{"unknown target key", okTarget + "adress = \"x:1\"", "target[0].adress"},
		{"bad audit_on_failure", `audit_on_failure = "ignore"`, "audit_on_failure"},
		{"bad log_level", `log_level = "trace"`, "log_level"},
		{"lockout_after 0", "[auth]\nlockout_after = 0", "auth.lockout_after"},
		{"lockout_after 101", "[auth]\nlockout_after = 101", "auth.lockout_after"},
		{"negative lockout_time", "[auth]\nlockout_time = \"-5m\"", "auth.lockout_time"},
		{"negative shutdown_grace", `shutdown_grace = "-1s"`, "shutdown_grace"},
		{"zero login_grace_time", "[auth]\nlogin_grace_time = \"0s\"", "auth.login_grace_time"},
		{"totp_window too big", "[auth]\ntotp_window = 11", "auth.totp_window"},
		{"password_plus_code without groups", "[auth]\npassword_plus_code = true", "auth.password_plus_code_groups"},
		{"unknown cipher", "[ssh]\nciphers = [\"aes128-gcm@openssh.com\", \"3des-cbc\"]", "ssh.ciphers"},
		{"no OpenSSH cipher", "[ssh]\nciphers_openssh = []", "ssh.ciphers_openssh"},
		{"version wait too long", "[ssh]\nclient_version_wait = \"1m\"", "ssh.client_version_wait"},
		{"bad duration unit", "[auth]\nlockout_time = \"5 minutes\"", "auth.lockout_time"},
		{"bare number duration", "[auth]\nlockout_time = 300", "auth.lockout_time"},
		{"string for int", "[auth]\nlockout_after = \"three\"", "auth.lockout_after"},
		{"fraction for int", "[auth]\nlockout_after = 3.5", "auth.lockout_after"},
		{"int for string", `listen = 22`, "listen"},
		{"string for bool", "[enroll]\nqr_inverted = \"yes\"", "enroll.qr_inverted"},
		{"uint8 overflow", "[argon2]\nthreads = 257", "argon2.threads"},
		{"negative uint", "[argon2]\nmemory_kib = -1", "argon2.memory_kib"},
		{"argon2 too cheap", "[argon2]\nmemory_kib = 4", "argon2"},
		{"bad enroll.policy", "[enroll]\npolicy = \"anyone\"", "enroll.policy"},
		{"empty issuer", "[enroll]\nissuer = \"\"", "enroll.issuer"},
		{"max_tries 0", "[enroll]\nmax_tries = 0", "enroll.max_tries"},
		{"recovery_codes 51", "[enroll]\nrecovery_codes = 51", "enroll.recovery_codes"},
		{"zero dial_timeout", "[upstream]\ndial_timeout = \"0s\"", "upstream.dial_timeout"},
		{"target without groups or users", "[[target]]\nname = \"a\"\naddress = \"h:22\"", "target[0]"},
		{"target without name", "[[target]]\naddress = \"h:22\"\ngroups = [\"ops\"]", "target[0].name"},
		{"target no port", "[[target]]\nname = \"a\"\naddress = \"h\"\ngroups = [\"ops\"]", "target[0].address"},
		{"target no host", "[[target]]\nname = \"a\"\naddress = \":22\"\ngroups = [\"ops\"]", "target[0].address"},
		{"target port 0", "[[target]]\nname = \"a\"\naddress = \"h:0\"\ngroups = [\"ops\"]", "target[0].address"},
		{"target port 65536", "[[target]]\nname = \"a\"\naddress = \"h:65536\"\ngroups = [\"ops\"]", "target[0].address"},
		{"target port name", "[[target]]\nname = \"a\"\naddress = \"h:ssh\"\ngroups = [\"ops\"]", "target[0].address"},
		{"duplicate target", okTarget + okTarget, "target[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.toml))
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tt.toml, cfg)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name key %q", err, tt.key)
			}
		})
	}
}

func TestParseAcceptsBoundaries(t *testing.T) {
	for _, s := range []string{
		"[auth]\nlockout_after = 1",
		"[auth]\nlockout_after = 100",
		"[auth]\nlockout_after = 3.0", // a whole float is a whole number
		"[auth]\nlockout_time = 0",    // 0 needs no unit
		"[argon2]\nthreads = 255",
		"[[target]]\nname = \"a\"\naddress = \"[::1]:65535\"\nusers = [\"bob\"]",
	} {
		if _, err := Parse([]byte(s)); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}

func TestParseMalformedTOML(t *testing.T) {
	for _, s := range []string{"listen = [", "[auth\nlockout_after = 3", "listen = \"a\"\nlisten = \"b\"", "\x00\xff"} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) accepted malformed TOML", s)
		}
	}
}

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[auth]\nlockout_after = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "auth.lockout_after") {
		t.Errorf("Load error %v should name the file and the key", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
	if c.Auth.LockoutTime != 5*time.Minute || c.Enroll.Policy != PolicyFirstLogin {
		t.Errorf("unexpected defaults %+v", c)
	}
}
