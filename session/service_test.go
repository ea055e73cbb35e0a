package session

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/recording"
	"bastion/store"
)

type fakeUsers map[string]*store.User

func (f fakeUsers) User(_ context.Context, name string) (*store.User, error) {
	if u, ok := f[name]; ok {
		return u, nil
	}
	return nil, store.ErrNotFound
}

func TestAllowedRechecksTheStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := &Service{Now: func() time.Time { return now }, Users: fakeUsers{
		"alice": {Name: "alice", Groups: []string{"ops", "dba"}},
		"bob":   {Name: "bob", LockedByHand: true},
		"carol": {Name: "carol", LockedUntil: now.Add(time.Minute)},
	}}
	id, err := s.allowed(context.Background(), "alice")
	if err != nil || strings.Join(id.Groups, ",") != "ops,dba" {
		t.Fatalf("alice: %+v, %v", id, err)
	}
	for _, name := range []string{"bob", "carol", "deleted"} {
		if _, err := s.allowed(context.Background(), name); err == nil {
			t.Errorf("%s allowed", name)
		}
	}
}

func TestSessionIDs(t *testing.T) {
	id := newSessionID(time.Unix(1_800_000_000, 0))
	if !ValidID(id) || !strings.HasPrefix(id, "20270115-") {
		t.Fatalf("newSessionID = %q", id)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Replace(id, "-", "/", 1), id + "x", strings.ToUpper(id)} {
		if ValidID(bad) && bad != id {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestOpenRecordingsRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	r, err := OpenRecordings(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o", st.Mode().Perm())
	}
	os.Chmod(dir, 0o755)
	if _, err := OpenRecordings(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("a group-readable recording dir was accepted: %v", err)
	}
}

func TestRecordingPolicy(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Recording
		err  error
		end  bool
		what string
	}{
		{config.Recording{OnMaxSize: "stop", OnFailure: "refuse"}, recording.ErrCapped, false, "continue unrecorded"},
		{config.Recording{OnMaxSize: "end", OnFailure: "refuse"}, recording.ErrCapped, true, "end session"},
		{config.Recording{OnMaxSize: "stop", OnFailure: "refuse"}, errors.New("disk full"), true, "end session"},
		{config.Recording{OnMaxSize: "stop", OnFailure: "continue"}, errors.New("disk full"), false, "continue unrecorded"},
	} {
		var events []audit.Event
		var cause error
		p := &pump{svc: &Service{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, cfg: c.cfg, sid: "s",
			r:      Request{Audit: func(e audit.Event) error { events = append(events, e); return nil }},
			cancel: func(err error) { cause = err }}
		p.recorded(c.err)
		p.recorded(c.err) // audited once
		if len(events) != 1 || events[0].Type != "session.recording" || events[0].Fields["action"] != c.what {
			t.Errorf("%+v / %v: events %+v", c.cfg, c.err, events)
		}
		if (cause != nil) != c.end {
			t.Errorf("%+v / %v: ended = %v", c.cfg, c.err, cause)
		}
	}
}

func TestAllowedKeyOptions(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	users := fakeUsers{
		"alice": {Name: "alice", Keys: []string{`no-pty,expiry-time="20270201" ` + line}},
		"old":   {Name: "old", Keys: []string{`expiry-time="20200101" ` + line}},
		"other": {Name: "other", Keys: []string{}},
	}
	s := &Service{Now: func() time.Time { return now }, Users: users}
	_, opts, err := s.allowedKey(context.Background(), "alice", key)
	if err != nil || opts.Expires.IsZero() || !slices.Contains(opts.Kept, "no-pty") {
		t.Fatalf("alice: %+v, %v", opts, err)
	}
	for _, name := range []string{"old", "other"} {
		if _, _, err := s.allowedKey(context.Background(), name, key); err == nil {
			t.Errorf("%s: key accepted", name)
		}
	}
}
