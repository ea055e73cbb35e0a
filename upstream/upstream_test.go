package upstream

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"bastion/config"
)

var targets = []config.Target{
	{Name: "pve1", Address: "10.0.0.11:22", Groups: []string{"ops"}},
	{Name: "pve2", Address: "10.0.0.12:2222", Users: []string{"bob"}},
	{Name: "db", Address: "10.0.0.20:22", Groups: []string{"dba"}},
}

func TestResolve(t *testing.T) {
	alice := Identity{User: "alice", Groups: []string{"ops"}}
	bob := Identity{User: "bob"}
	cases := []struct {
		id   Identity
		host string
		port uint32
		want string // "" = refused
	}{
		{alice, "pve1", 22, "pve1"},
		{alice, "10.0.0.11", 22, "pve1"},
		{alice, "pve1", 8006, ""},      // name with another port
		{alice, "10.0.0.11", 8006, ""}, // address with another port
		{alice, "pve2", 22, ""},        // not allowed
		{alice, "db", 22, ""},          // other group
		{alice, "example.org", 22, ""}, // not a target: never an open proxy
		{alice, "127.0.0.1", 22, ""},
		{bob, "pve2", 22, "pve2"},
		{bob, "pve2", 2222, "pve2"},
		{bob, "10.0.0.12", 2222, "pve2"},
		{bob, "pve1", 22, ""},
		{Identity{}, "pve1", 22, ""}, // nobody
	}
	for _, c := range cases {
		got, err := Resolve(targets, c.id, c.host, c.port)
		if c.want == "" {
			if !errors.Is(err, ErrNotAllowed) {
				t.Errorf("%s → %s:%d: got %q, %v; want refused", c.id.User, c.host, c.port, got.Name, err)
			}
			continue
		}
		if err != nil || got.Name != c.want {
			t.Errorf("%s → %s:%d: got %q, %v; want %q", c.id.User, c.host, c.port, got.Name, err, c.want)
		}
	}
}

func TestReachable(t *testing.T) {
	got := Reachable(targets, Identity{User: "bob", Groups: []string{"dba"}})
	var names []string
	for _, t := range got {
		names = append(names, t.Name)
	}
	if strings.Join(names, ",") != "pve2,db" {
		t.Fatalf("Reachable = %v", names)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Dialer{Timeout: 2 * time.Second}.Dial(context.Background(), config.Target{Name: "down", Address: addr})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial to a closed port: %v", err)
	}
}
