package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"bastion/passwd"
	"bastion/store"
)

// addUserWithKey adds an enrolled user in group ops whose one key line
// carries options.
func (ts *testServer) addUserWithKey(name, options string) ssh.Signer {
	ts.t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if options != "" {
		line = options + " " + line
	}
	hash, _ := passwd.Hash(password, passwd.Params{MemoryKiB: 64, Time: 1, Threads: 1})
	ctx := context.Background()
	if err := ts.store.AddUser(ctx, store.NewUser{Name: name, PasswordHash: hash, Groups: []string{"ops"}, Keys: []string{line}}, t0); err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.store.SetOTP(ctx, name, store.OTP{Params: ts.params}, nil, false); err != nil {
		ts.t.Fatal(err)
	}
	ts.keys[name] = signer
	return signer
}

// TestKeyOptionsEnforced: a key kept with from= or expiry-time= works only
// where and when its options allow (the client here is 127.0.0.1).
func TestKeyOptionsEnforced(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.addUserWithKey("carol", `from="10.9.9.9"`)
	ts.addUserWithKey("dave", `from="127.0.0.0/8,!10.6.6.6",no-pty`)
	ts.addUserWithKey("erin", `expiry-time="20200101Z"`)
	ts.addUserWithKey("fred", `restrict`) // refused by the CLI; a line that slipped in allows nothing
	for user, ok := range map[string]bool{"carol": false, "dave": true, "erin": false, "fred": false} {
		c, err := ts.login(user, 0)
		if (err == nil) != ok {
			t.Errorf("%s: login err=%v, want ok=%v", user, err, ok)
		}
		if c != nil {
			c.Close()
		}
	}
	if n := ts.audit.count("auth.publickey", "ok"); n != 1 {
		t.Errorf("%d publickey successes, want 1 (dave)", n)
	}
}
