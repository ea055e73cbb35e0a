package config

import (
	"strings"
	"testing"
	"time"
)

func TestSessionKeys(t *testing.T) {
	cfg, err := Parse([]byte(`
[ca]
cert_ttl = "2h"
group_cert_ttl = { contractors = "30m", ops = "4h" }
[recording]
on_max_size = "end"
record_input = false
[[target]]
name = "pve1"
address = "10.0.0.1:22"
groups = ["ops"]
logins = ["root", "admin"]
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
mode = "session"
`))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.TargetMode() != ModeSession || tg.Logins[1] != "admin" {
		t.Errorf("target = %+v", tg)
	}
	if k, err := tg.PinnedKey(); err != nil || k.Type() != "ssh-ed25519" {
		t.Errorf("pinned key %v, %v", k, err)
	}
	if cfg.Recording.OnMaxSize != "end" || cfg.Recording.RecordInput {
		t.Errorf("recording = %+v", cfg.Recording)
	}
	for groups, want := range map[string]time.Duration{"": 2 * time.Hour, "ops": 4 * time.Hour, "ops,contractors": 30 * time.Minute} {
		if got := cfg.CertTTLFor(strings.Split(groups, ",")); got != want {
			t.Errorf("CertTTLFor(%s) = %v, want %v", groups, got, want)
		}
	}
	if (Target{}).TargetMode() != ModeBoth {
		t.Error("default mode is not both")
	}
}

func TestSessionKeysInvalid(t *testing.T) {
	target := "[[target]]\nname = %q\naddress = \"h:22\"\ngroups = [\"g\"]\n"
	cases := map[string]string{
		"[ca]\ncert_ttl = \"0s\"\n":                                          "ca.cert_ttl",
		"[ca]\ngroup_cert_ttl = { ops = \"-1h\" }\n":                         "ca.group_cert_ttl.ops",
		"[ca]\nsource_addresses = [\"nope\"]\n":                              "ca.source_addresses",
		"[recording]\non_max_size = \"explode\"\n":                           "recording.on_max_size",
		"[recording]\non_failure = \"maybe\"\n":                              "recording.on_failure",
		"[recording]\nmax_size = -1\n":                                       "recording.max_size",
		strings.Replace(target, "%q", `"cert"`, 1):                           "target[0].name",
		strings.Replace(target, "%q", `"a b"`, 1):                            "target[0].name",
		strings.Replace(target, "%q", `"root@x"`, 1):                         "target[0].name",
		strings.Replace(target, "%q", `"x"`, 1) + "logins = [\"ro ot\"]\n":   "target[0].logins",
		strings.Replace(target, "%q", `"x"`, 1) + "host_key = \"garbage\"\n": "target[0].host_key",
		strings.Replace(target, "%q", `"x"`, 1) + "mode = \"tunnel\"\n":      "target[0].mode",
		strings.Replace(target, "%q", `"x"`, 1) + "mode = \"session\"\n":     "needs logins",
	}
	for in, want := range cases {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error naming %s", in, err, want)
		}
	}
}
