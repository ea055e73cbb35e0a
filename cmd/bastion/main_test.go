package main

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"bastion/config"
)

func TestTakeConfigFlag(t *testing.T) {
	cases := []struct {
		args     []string
		path     string
		rest     []string
		hasError bool
	}{
		{[]string{"-c", "a.toml", "serve"}, "a.toml", []string{"serve"}, false},
		{[]string{"user", "add", "bob", "-c", "b.toml", "--key", "k"}, "b.toml", []string{"user", "add", "bob", "--key", "k"}, false},
		{[]string{"--config=c.toml", "user", "list"}, "c.toml", []string{"user", "list"}, false},
		{[]string{"user", "list"}, "", []string{"user", "list"}, false},
		{[]string{"serve", "-c"}, "", nil, true},
	}
	for _, c := range cases {
		path, rest, err := takeConfigFlag(c.args)
		if (err != nil) != c.hasError || path != c.path || (!c.hasError && !reflect.DeepEqual(rest, c.rest)) {
			t.Errorf("takeConfigFlag(%q) = %q, %q, %v", c.args, path, rest, err)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var keys, groups listFlag
	fs.Var(&keys, "key", "")
	fs.Var(&groups, "group", "")
	pos, err := parseInterleaved(fs, []string{"alice", "--key", "a.pub", "--group", "ops,dba", "extra", "--key", "b.pub"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "alice extra" || len(keys) != 2 || len(groups) != 1 || groups[0] != "ops,dba" {
		t.Fatalf("pos=%q keys=%q groups=%q", pos, keys, groups)
	}
	if _, err := parseInterleaved(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"alice": true, "a.b-c_d9": true, "Alice": false, "9lives": false, "": false,
		"a b": false, "evil\n": false, "\x1b[2J": false, strings.Repeat("a", 33): false, strings.Repeat("a", 32): true,
	} {
		if validName(name) != want {
			t.Errorf("validName(%q) = %v", name, !want)
		}
	}
}

func TestLoggerUnderJournal(t *testing.T) {
	for _, journal := range []bool{false, true} {
		var b strings.Builder
		newLogger(&b, slog.LevelInfo, journal).Info("hello", "conn_id", "c1")
		if got := strings.HasPrefix(b.String(), "time="); got == journal {
			t.Errorf("journal=%v: %q", journal, b.String())
		}
		if !strings.Contains(b.String(), `level=INFO msg=hello conn_id=c1`) {
			t.Errorf("journal=%v: %q", journal, b.String())
		}
	}
}

func TestSSHConfigRefusesLineInjection(t *testing.T) {
	for _, args := range [][]string{
		{"alice", "--host", "h", "--multiplex", "--control-path", "/tmp/cm\n    ProxyCommand evil"},
		{"alice", "--host", "h", "--multiplex", "--control-persist", "10m yes"},
		{"alice", "--host", "h", "--multiplex", "--control-path", ""},
	} {
		err := sshConfig(&env{}, args)
		if err == nil || !strings.Contains(err.Error(), "one word") {
			t.Errorf("ssh-config %q: %v, want a refusal before anything is written", args, err)
		}
	}
}

func TestOwnerCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.State = filepath.Join(dir, "state", "bastion.db")
	if err := ownerCheck(&cfg, 0); err != nil {
		t.Fatalf("no state dir yet: %v", err)
	}
	os.Mkdir(filepath.Dir(cfg.State), 0o700)
	if err := ownerCheck(&cfg, 0); err != nil {
		t.Fatalf("root-owned state dir: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	os.Chown(filepath.Dir(cfg.State), 65534, 65534)
	err := ownerCheck(&cfg, 0)
	if err == nil || !strings.Contains(err.Error(), "run this as that user") {
		t.Fatalf("root on a state dir of uid 65534: %v", err)
	}
	if err := ownerCheck(&cfg, 65534); err != nil {
		t.Fatalf("as the owner: %v", err)
	}
}
