// A recorded session: dial the backend as the login, record, pump, audit.
package session

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/ca"
	"bastion/config"
	"bastion/recording"
	"bastion/untrusted"
	"bastion/upstream"
)

// ptyReq is the RFC 4254 §6.2 payload.
type ptyReq struct {
	Term                 string
	Cols, Rows, PxW, PxH uint32
	Modes                string
}

func (s *Service) session(ctx context.Context, r Request) (uint32, error) {
	cmd, err := ParseCommand(r.Command)
	if err != nil {
		return 0, &userError{msg: err.Error()}
	}
	id, opts, err := s.allowedKey(ctx, r.User, r.Key)
	if err != nil {
		return 0, err
	}
	if r.PtyReq != nil && slices.Contains(opts.Kept, "no-pty") {
		return 0, &userError{msg: "your login key has no-pty: run a command without -t"}
	}
	cfg := s.Config()
	t, login, err := Resolve(cfg.Targets, id, cmd)
	if err != nil {
		if errors.Is(err, ErrNoTarget) {
			r.Audit(audit.Event{Type: "session.refused", Result: "fail", Target: untrusted.Text(cmd.Target, untrusted.MaxHost), Fields: map[string]string{"reason": err.Error()}})
			return 0, &userError{msg: fmt.Sprintf("no target %q that you may use (the bastion runs no commands); run `ssh %s@<bastion>` to list yours", cmd.Target, r.User)}
		}
		r.Audit(audit.Event{Type: "session.refused", Result: "fail", Target: t.Name, Fields: map[string]string{"reason": err.Error()}})
		return 0, &userError{msg: fmt.Sprintf("%s: %v", cmd.Target, err)}
	}
	var pty *ptyReq
	if r.PtyReq != nil {
		pty = &ptyReq{}
		if err := ssh.Unmarshal(r.PtyReq, pty); err != nil {
			return 0, &userError{msg: "malformed pty request"}
		}
	}
	sid := newSessionID(s.now())
	client, cert, err := s.dial(ctx, cfg, t, login, r.User, sid)
	if err != nil {
		var mm *MismatchError
		if errors.As(err, &mm) {
			r.Audit(audit.Event{Type: "target.hostkey.mismatch", Result: "fail", Target: t.Name, Fields: map[string]string{
				"dest": t.Address, "presented": mm.Got, "pinned": strings.Join(mm.Want, ","), "session_id": sid}})
			return 0, &userError{msg: mm.Error() + ". The session was refused: tell an administrator", detail: err}
		}
		r.Audit(audit.Event{Type: "session.failed", Result: "fail", Target: t.Name, Fields: map[string]string{"dest": t.Address, "reason": err.Error(), "session_id": sid}})
		return 0, &userError{msg: fmt.Sprintf("cannot open a session on %s: %v", t.Name, err), detail: err}
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()

	head := recording.Header{Width: 80, Height: 24, Command: login + "@" + t.Name, Title: r.User + " " + login + "@" + t.Name}
	if cmd.Args != "" {
		head.Command += " " + cmd.Args
	}
	if pty != nil {
		head.Width, head.Height = clampSize(pty.Cols, 80), clampSize(pty.Rows, 24)
		head.Env = map[string]string{"TERM": untrusted.Text(pty.Term, 64)}
	}
	rec, err := recording.Create(s.Recordings, RecordingName(sid), head, recording.Options{MaxSize: cfg.Recording.MaxSize, Now: s.Now})
	recName := RecordingName(sid)
	if err != nil {
		s.Log.Error("recording cannot be created", "conn_id", r.ConnID, "err", err)
		if cfg.Recording.OnFailure == "refuse" {
			r.Audit(audit.Event{Type: "session.failed", Result: "fail", Target: t.Name, Fields: map[string]string{"reason": "recording: " + err.Error(), "session_id": sid}})
			return 0, &userError{msg: "the session cannot be recorded, so it is refused"}
		}
		rec, recName = nil, ""
	}
	open := map[string]string{"session_id": sid, "login": login, "dest": t.Address,
		"key_id": cert.KeyId, "recording": recName, "pty": fmt.Sprint(pty != nil), "command": untrusted.Text(cmd.Args, untrusted.MaxText)}
	if err := r.Audit(audit.Event{Type: "session.open", Result: "ok", Target: t.Name, Fields: open,
		Num: map[string]int64{"serial": int64(cert.Serial)}}); err != nil {
		if rec != nil {
			rec.Close()
		}
		return 0, &userError{msg: "the audit log cannot be written, so sessions are refused", detail: err}
	}
	start := s.now()
	p := &pump{svc: s, r: r, rec: rec, cfg: cfg.Recording, target: t, sid: sid}
	status, reason := p.run(ctx, client, pty, cmd.Args)
	closing := map[string]string{"session_id": sid, "login": login, "reason": reason}
	num := map[string]int64{"duration_ms": s.now().Sub(start).Milliseconds(), "bytes_up": p.up.Load(), "bytes_down": p.down.Load()}
	if status.signal != "" {
		closing["exit_signal"] = status.signal
	} else if status.ok {
		num["exit_status"] = int64(status.code)
	}
	if rec != nil {
		if status.ok && status.signal == "" {
			rec.Mark(fmt.Sprintf("exit-status %d", status.code))
		}
		sum, err := rec.Close()
		closing["recording"], closing["recording_sha256"], num["recording_size"] = recName, sum.SHA256, sum.Size
		if sum.Capped {
			closing["recording_capped"] = "true"
		}
		if err != nil {
			closing["recording_error"] = err.Error()
		}
	}
	r.Audit(audit.Event{Type: "session.close", Result: "ok", Target: t.Name, Fields: closing, Num: num})
	if status.signal != "" {
		r.Channel.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Msg, Lang  string
		}{Signal: status.signal}))
		return 255, nil
	}
	if !status.ok {
		return 255, nil
	}
	return status.code, nil
}

func clampSize(v uint32, def int) int {
	if v < 1 || v > 10000 {
		return def
	}
	return int(v)
}

// dial connects to t as login with a fresh key and a session certificate,
// accepting only the pinned host key.
func (s *Service) dial(ctx context.Context, cfg *config.Config, t config.Target, login, user, sid string) (*ssh.Client, *ssh.Certificate, error) {
	keys, err := KnownHosts{Path: cfg.Upstream.KnownHosts}.Keys(t)
	if errors.Is(err, ErrNoHostKey) {
		return nil, nil, fmt.Errorf("no host key is pinned for %s: an administrator must run `bastion target trust %s` or set its host_key", t.Name, t.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	d := upstream.Dialer{Timeout: cfg.Upstream.DialTimeout, KeepAlive: cfg.Session.KeepaliveInterval, KeepAliveCount: cfg.Session.KeepaliveCountMax}
	nc, err := d.Dial(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	local, _ := nc.LocalAddr().(*net.TCPAddr)
	if local == nil {
		nc.Close()
		return nil, nil, errors.New("no local address")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	cert, err := s.CA.SessionCert(ca.SessionRequest{Key: signer.PublicKey(), User: user, SessionID: sid, Login: login,
		Sources: []string{local.IP.String()}})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	certSigner, err := ssh.NewCertSigner(cert, signer)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	var mismatch error
	cb, algos := pinned(t.Name, keys, &mismatch)
	nc.SetDeadline(time.Now().Add(cfg.Upstream.DialTimeout))
	conn, chans, reqs, err := ssh.NewClientConn(nc, t.Address, &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(certSigner)},
		HostKeyCallback: cb, HostKeyAlgorithms: algos, Timeout: cfg.Upstream.DialTimeout,
		ClientVersion: "SSH-2.0-bastion-session",
	})
	if err != nil {
		nc.Close()
		if mismatch != nil {
			return nil, nil, mismatch
		}
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(conn, chans, reqs), cert, nil
}

// exitStatus is how the backend's command ended.
type exitStatus struct {
	ok     bool // an exit-status or exit-signal arrived
	code   uint32
	signal string
}

// pump moves one session between the client's channel and the backend.
type pump struct {
	svc      *Service
	r        Request
	rec      *recording.Writer
	cfg      config.Recording
	target   config.Target
	sid      string
	up, down counter

	once   sync.Once
	ctx    context.Context
	cancel context.CancelCauseFunc
}

type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) Add(n int) { c.mu.Lock(); c.n += int64(n); c.mu.Unlock() }
func (c *counter) Load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
