// The service the gateway calls for `ssh USER@bastion COMMAND`.
package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/authkeys"
	"bastion/ca"
	"bastion/config"
	"bastion/store"
	"bastion/upstream"
)

// Users is the subset of the store the service uses: it re-checks the user
// before it opens anything.
type Users interface {
	User(ctx context.Context, name string) (*store.User, error)
}

// Service opens recorded sessions and issues `cert` certificates.
type Service struct {
	Config     func() *config.Config
	CA         *ca.CA
	Users      Users
	Recordings *os.Root // the recording directory; files are created only inside it
	Log        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Request is one `exec` on the bastion's session channel, built by the
// gateway from the connection's final Permissions.
type Request struct {
	User   string
	Key    ssh.PublicKey // the key the user logged in with
	ConnID string
	// Command is the exec payload.
	Command string
	// PtyReq is the raw pty-req payload, nil when the client asked for none.
	PtyReq []byte
	// Exec is the exec request itself, not yet answered.
	Exec     *ssh.Request
	Channel  ssh.Channel
	Requests <-chan *ssh.Request
	// Audit appends an event with the connection's fields filled in; an
	// error means it was not recorded and the caller must fail closed.
	Audit func(audit.Event) error
	// Touch notes activity for the idle timeout.
	Touch func()
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// userError is a message for the client; detail is for the log.
type userError struct {
	msg    string
	detail error
}

func (e *userError) Error() string { return e.msg }

// Serve runs the command to its end. It answers r.Exec and closes nothing
// but what it opened; the caller closes the channel.
func (s *Service) Serve(ctx context.Context, r Request) {
	var status uint32
	var err error
	if r.Command == config.ReservedCommand {
		status, err = s.cert(ctx, r)
	} else {
		status, err = s.session(ctx, r)
	}
	if err != nil {
		var ue *userError
		msg := "internal error"
		if errors.As(err, &ue) {
			msg = ue.msg
			if ue.detail != nil {
				s.Log.Info("session refused", "conn_id", r.ConnID, "user", r.User, "reason", ue.msg, "err", ue.detail)
			}
		} else {
			s.Log.Error("session failed", "conn_id", r.ConnID, "user", r.User, "err", err)
		}
		reply(r.Exec, true)
		io.WriteString(r.Channel.Stderr(), lineEnds("bastion: "+msg+"\n", r.PtyReq != nil))
		status = 1
	}
	r.Channel.CloseWrite()
	r.Channel.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// allowed re-reads the user from the store: deleted or locked users get
// nothing, and groups come from the store as they are now.
func (s *Service) allowed(ctx context.Context, name string) (upstream.Identity, error) {
	id, _, err := s.allowedKey(ctx, name, nil)
	return id, err
}

// allowedKey is allowed, and also finds the options of the user's key line
// for key (when key is not nil): a key no longer listed or past its
// expiry-time gets nothing.
func (s *Service) allowedKey(ctx context.Context, name string, key ssh.PublicKey) (upstream.Identity, authkeys.Options, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u, err := s.Users.User(ctx, name)
	if err != nil {
		return upstream.Identity{}, authkeys.Options{}, &userError{msg: "your account is no longer allowed", detail: err}
	}
	if u.Locked(s.now()) {
		return upstream.Identity{}, authkeys.Options{}, &userError{msg: "your account is locked"}
	}
	id := upstream.Identity{User: u.Name, Groups: u.Groups}
	if key == nil {
		return id, authkeys.Options{}, nil
	}
	for _, line := range u.Keys {
		k, opts, err := authkeys.Line(line)
		if err == nil && bytes.Equal(k.Marshal(), key.Marshal()) {
			if !opts.Expires.IsZero() && !s.now().Before(opts.Expires) {
				return id, opts, &userError{msg: "your login key has expired (expiry-time)"}
			}
			return id, opts, nil
		}
	}
	return id, authkeys.Options{}, &userError{msg: "your login key is no longer authorized"}
}

func newSessionID(now time.Time) string {
	b := make([]byte, 4)
	rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// ValidID reports whether id has the form newSessionID makes (so it can name
// a file inside the recording directory).
func ValidID(id string) bool {
	if len(id) != 24 || id[8] != '-' || id[15] != '-' {
		return false
	}
	for i, c := range id {
		if i == 8 || i == 15 {
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RecordingName is the file name of session id's recording.
func RecordingName(id string) string { return id + ".cast" }

func reply(r *ssh.Request, ok bool) {
	if r != nil && r.WantReply {
		r.Reply(ok, nil)
	}
}

func lineEnds(s string, pty bool) string {
	if !pty {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// OpenRecordings opens the recording directory, creating it (mode 0700).
// A directory that group or others may enter is refused, as the state
// files are.
func OpenRecordings(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording dir %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("recording dir %s: %w", dir, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("recording dir %s is accessible by group or others (mode %04o): chmod 700 it", dir, st.Mode().Perm())
	}
	return os.OpenRoot(dir)
}
