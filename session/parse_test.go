package session

import (
	"errors"
	"strings"
	"testing"

	"bastion/config"
	"bastion/upstream"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		in   string
		want Command
		err  error
	}{
		{"pve1", Command{Target: "pve1"}, nil},
		{"root@pve1", Command{Login: "root", Target: "pve1"}, nil},
		{"root@pve1 zpool status -v", Command{Login: "root", Target: "pve1", Args: "zpool status -v"}, nil},
		{"  pve1   echo 'a  b' ", Command{Target: "pve1", Args: "echo 'a  b'"}, nil},
		{"pve1\tuptime", Command{Target: "pve1", Args: "uptime"}, nil},
		{"", Command{}, ErrEmpty},
		{"   ", Command{}, ErrEmpty},
		{"@pve1", Command{}, ErrMalformed},
		{"root@", Command{}, ErrMalformed},
		{"a@b@c", Command{}, ErrMalformed},
		{"ro;ot@pve1", Command{}, ErrMalformed},
		{"pve1;id", Command{}, ErrMalformed},
		{"$(id)", Command{}, ErrMalformed},
		{"pve1\x00", Command{}, ErrMalformed},
		{"pve1 \xff", Command{}, ErrMalformed},
		{"pve1 " + strings.Repeat("a", MaxCommand), Command{}, ErrMalformed},
	}
	for _, c := range cases {
		got, err := ParseCommand(c.in)
		if !errors.Is(err, c.err) || (c.err == nil && got != c.want) {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestResolve(t *testing.T) {
	targets := []config.Target{
		{Name: "pve1", Address: "10.0.0.1:22", Groups: []string{"ops"}, Logins: []string{"root", "admin"}},
		{Name: "db", Address: "10.0.0.2:22", Groups: []string{"dba"}, Logins: []string{"postgres"}},
		{Name: "old", Address: "10.0.0.3:22", Groups: []string{"ops"}},
		{Name: "edge", Address: "10.0.0.4:22", Users: []string{"alice"}, Logins: []string{"root"}, Mode: config.ModeJump},
		{Name: "prod", Address: "10.0.0.5:22", Groups: []string{"ops"}, Logins: []string{"root", "deploy"}, Mode: config.ModeSession},
	}
	alice := upstream.Identity{User: "alice", Groups: []string{"ops"}}
	cases := []struct {
		cmd    string
		target string
		login  string
		err    error
	}{
		{"pve1", "pve1", "root", nil},
		{"admin@pve1 uptime", "pve1", "admin", nil},
		{"root@pve1 cmd args", "pve1", "root", nil},
		{"prod", "prod", "root", nil},
		{"nope", "", "", ErrNoTarget},
		{"db", "", "", ErrNoTarget}, // exists, not hers: same answer
		{"postgres@pve1", "", "", ErrLogin},
		{"old", "", "", ErrNoLogins},
		{"edge", "", "", ErrJumpOnly},
	}
	for _, c := range cases {
		cmd, err := ParseCommand(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		tg, login, err := Resolve(targets, alice, cmd)
		if !errors.Is(err, c.err) || tg.Name != c.target || login != c.login {
			t.Errorf("Resolve(%q) = %s, %s, %v; want %s, %s, %v", c.cmd, tg.Name, login, err, c.target, c.login, c.err)
		}
	}
	got := JumpPrincipals(targets, alice)
	if strings.Join(got, ",") != "root,admin" {
		t.Errorf("JumpPrincipals = %q, want root,admin (prod is session-only, db not hers)", got)
	}
}
