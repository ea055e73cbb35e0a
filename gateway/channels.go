// Channels after login: direct-tcpip to an allowed target, and a session
// that prints the user's targets. Nothing else.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/session"
	"bastion/sockio"
	"bastion/untrusted"
	"bastion/upstream"
)

// conn is one authenticated connection.
type conn struct {
	srv    *Server
	id     identity
	connID string
	source string
	addr   netip.Addr
	sconn  *ssh.ServerConn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	active atomic.Int64             // unix nanoseconds of the last byte moved
	groups atomic.Pointer[[]string] // from the last revocation check (revoke.go)
	// refusals rate-limits the jump.refused records this connection can
	// cause; the rest are counted in its conn.close record.
	refusals *audit.Budget
}

// Refused jumps recorded per connection: a burst, then one per interval.
const (
	refusedJumpBurst = 10
	refusedJumpEvery = time.Minute
)

// auditRefusal records (and logs) a refused jump within the connection's budget.
func (c *conn) auditRefusal(e audit.Event) {
	if c.refusals == nil || c.refusals.Allow() {
		c.srv.audit(c.event(e))
		c.log.Info("jump refused", "target", e.Target, "requested", e.Fields["requested"], "reason", e.Fields["reason"])
	}
}

func (c *conn) touch() { c.active.Store(time.Now().UnixNano()) }

// watchIdle cancels the connection when no byte moved for idle.
func (c *conn) watchIdle(idle time.Duration) {
	t := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, c.active.Load())) >= idle {
				c.cancel(errors.New("idle timeout"))
				return
			}
		}
	}
}

func (c *conn) event(e audit.Event) audit.Event {
	e.ConnID, e.Source, e.User = c.connID, c.source, c.id.User
	return e
}

func (c *conn) serveChannels(chans <-chan ssh.NewChannel) {
	for nch := range chans {
		if !c.admitChannel(nch) {
			continue
		}
		switch nch.ChannelType() {
		case "direct-tcpip":
			c.goSafe(func() { c.jump(nch) })
		case "session":
			c.goSafe(func() { c.session(nch) })
		default:
			nch.Reject(ssh.UnknownChannelType, "bastion only opens jumps to targets")
		}
	}
}

// testChannelHook, set only by tests, runs before each channel handler (to
// inject a panic).
var testChannelHook func(user string)

// goSafe runs fn in a goroutine the connection waits for; a panic in it is
// logged with the connection id and closes only this connection.
func (c *conn) goSafe(fn func()) {
	c.wg.Add(1)
	if h := testChannelHook; h != nil {
		inner := fn
		fn = func() { h(c.id.User); inner() }
	}
	go func() {
		defer c.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("panic in channel; closing the connection", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				c.cancel(fmt.Errorf("internal error"))
			}
		}()
		fn()
	}()
}

// directTCPIP is the RFC 4254 §7.2 channel payload.
type directTCPIP struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

func (c *conn) jump(nch ssh.NewChannel) {
	var req directTCPIP
	if err := ssh.Unmarshal(nch.ExtraData(), &req); err != nil {
		nch.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	// The requested host is outside text: bounded and cleaned before it is
	// logged, audited or echoed (matching uses the raw bytes: no target has
	// an unclean name).
	host := untrusted.Text(req.Host, untrusted.MaxHost)
	dest := net.JoinHostPort(host, fmt.Sprint(req.Port))
	cfg := c.srv.cfg()
	t, err := upstream.Resolve(cfg.Targets, upstream.Identity{User: c.id.User, Groups: c.currentGroups()}, req.Host, req.Port)
	if err != nil {
		c.auditRefusal(audit.Event{Type: "jump.refused", Result: "fail", Target: host, Fields: map[string]string{"requested": dest}})
		nch.Reject(ssh.Prohibited, fmt.Sprintf("no target %q that you may use; run `ssh %s@<bastion>` to list yours", dest, c.id.User))
		return
	}
	if t.TargetMode() == config.ModeSession {
		c.auditRefusal(audit.Event{Type: "jump.refused", Result: "fail", Target: t.Name, Fields: map[string]string{"reason": "target requires recorded sessions"}})
		nch.Reject(ssh.Prohibited, fmt.Sprintf("%s allows only recorded sessions: use `ssh -t %s@<bastion> %s` (or add a command)", t.Name, c.id.User, t.Name))
		return
	}
	releaseJump, ok := c.srv.acquireJump(c.id.User)
	if !ok {
		c.auditRefusal(audit.Event{Type: "jump.refused", Result: "fail", Target: t.Name, Fields: map[string]string{"reason": "too many open jumps"}})
		nch.Reject(ssh.ResourceShortage, fmt.Sprintf("too many open jumps for %s (max %d)", c.id.User, cfg.Session.MaxJumpsPerUser))
		return
	}
	defer releaseJump()
	dialer := upstream.Dialer{Timeout: cfg.Upstream.DialTimeout, KeepAlive: cfg.Session.KeepaliveInterval, KeepAliveCount: cfg.Session.KeepaliveCountMax}
	dialed := c.srv.metrics.Dialing(t.Name)
	backend, err := dialer.Dial(c.ctx, t)
	dialed(err)
	if err != nil {
		c.srv.audit(c.event(audit.Event{Type: "jump.failed", Result: "fail", Target: t.Name, Fields: map[string]string{"dest": t.Address, "reason": err.Error()}}))
		c.log.Info("backend dial failed", "target", t.Name, "err", err)
		nch.Reject(ssh.ConnectionFailed, fmt.Sprintf("target %s (%s): %v", t.Name, t.Address, err))
		return
	}
	defer backend.Close()
	// Recorded before any byte flows; if it cannot be recorded, no jump.
	if err := c.srv.audit(c.event(audit.Event{Type: "jump.open", Result: "ok", Target: t.Name, Fields: map[string]string{"dest": t.Address, "key_fp": c.id.KeyFP}})); err != nil {
		nch.Reject(ssh.ResourceShortage, "bastion: the audit log cannot be written, so jumps are refused")
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	start := time.Now()
	up, down, reason := pipe(c.ctx, ch, sockio.New(backend), c.touch)
	c.log.Info("jump closed", "target", t.Name, "bytes_up", up, "bytes_down", down)
	c.srv.audit(c.event(audit.Event{Type: "jump.close", Result: "ok", Target: t.Name,
		Fields: map[string]string{"dest": t.Address, "reason": reason},
		Num:    map[string]int64{"bytes_up": up, "bytes_down": down, "duration_ms": time.Since(start).Milliseconds()},
	}))
}

// pipe copies both ways until both directions end or ctx is done, half-closing
// each side as its source ends. up is client→backend, down backend→client.
// It uses one goroutine besides the caller's, and an idle jump holds only
// a 4 KiB upload buffer: downloads borrow a pooled buffer (sockio.Copy) only
// while data is ready, uploads (sockio.CopyBursts) during bulk transfers.
func pipe(ctx context.Context, ch ssh.Channel, backend *sockio.Conn, touch func()) (up, down int64, reason string) {
	stop := context.AfterFunc(ctx, func() { ch.Close(); backend.Close() })
	defer stop()
	downDone := make(chan string, 1)
	go func() {
		n, err := sockio.Copy(activity{ch, touch}, backend)
		down = n
		ch.CloseWrite()
		downDone <- endReason("backend", err)
	}()
	up, err := sockio.CopyBursts(activity{backend, touch}, ch)
	if tc, ok := backend.Conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	reasonUp := endReason("client", err)
	reasonDown := <-downDone
	ch.Close()
	switch {
	case ctx.Err() != nil:
		return up, down, "server: " + context.Cause(ctx).Error()
	case reasonUp != "":
		return up, down, reasonUp
	case reasonDown != "":
		return up, down, reasonDown
	}
	return up, down, "closed"
}

// activity is a writer that notes each write for the idle timeout.
type activity struct {
	w     io.Writer
	touch func()
}

func (a activity) Write(p []byte) (int, error) {
	a.touch()
	return a.w.Write(p)
}

func endReason(side string, err error) string {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return ""
	}
	return side + ": " + err.Error()
}

// session serves `ssh user@bastion`: it prints the user's targets and exits.
// It runs no shell, no command and no subsystem.
func (c *conn) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	pty := false
	var ptyReq []byte
	for {
		select {
		case <-timer.C:
			return
		case <-c.ctx.Done():
			return
		case r, ok := <-reqs:
			if !ok {
				return
			}
			switch r.Type {
			case "pty-req":
				pty, ptyReq = true, r.Payload
				r.Reply(true, nil)
			case "shell", "exec":
				if cmd, ok := execCommand(r); ok && c.srv.sessions != nil {
					c.srv.sessions.Serve(c.ctx, session.Request{User: c.id.User, Key: c.id.Key, ConnID: c.connID,
						Command: cmd, PtyReq: ptyReq, Exec: r, Channel: ch, Requests: reqs, Touch: c.touch,
						Audit: func(e audit.Event) error { return c.srv.audit(c.event(e)) }})
					return
				}
				r.Reply(true, nil)
				status := uint32(0)
				if r.Type == "exec" {
					io.WriteString(ch.Stderr(), lineEnds("bastion runs no commands.\n", pty))
					status = 1
				}
				io.WriteString(ch, lineEnds(c.menu(), pty))
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				return
			default: // env, subsystem (sftp), x11-req, agent forwarding...
				if r.WantReply {
					r.Reply(false, nil)
				}
			}
		}
	}
}

// execCommand is the command of an exec request (ok false for a shell or
// an empty command: those get the menu).
func execCommand(r *ssh.Request) (string, bool) {
	var p struct{ Command string }
	if r.Type != "exec" || ssh.Unmarshal(r.Payload, &p) != nil || strings.TrimSpace(p.Command) == "" {
		return "", false
	}
	return p.Command, true
}

func (c *conn) menu() string {
	targets := upstream.Reachable(c.srv.cfg().Targets, upstream.Identity{User: c.id.User, Groups: c.currentGroups()})
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s. This is a jump host: it runs no shell.\n", c.id.User)
	if len(targets) == 0 {
		b.WriteString("You may not reach any target yet. Ask an administrator.\n")
		return b.String()
	}
	b.WriteString("Targets you may reach:\n")
	width := 0
	for _, t := range targets {
		width = max(width, len(t.Name))
	}
	for _, t := range targets {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, t.Name, t.Address)
	}
	fmt.Fprintf(&b, "\nUse one with:   ssh -J %s@<this host> root@%s\n", c.id.User, targets[0].Name)
	b.WriteString("Or ask an administrator for `bastion ssh-config " + c.id.User + "` and paste it into ~/.ssh/config.\n")
	for _, t := range targets {
		if len(t.Logins) > 0 && t.TargetMode() != config.ModeJump {
			fmt.Fprintf(&b, "Recorded session: ssh -t %s@<this host> %s   (or: ssh %s@<this host> %s@%s COMMAND)\n", c.id.User, t.Name, c.id.User, t.Logins[0], t.Name)
			break
		}
	}
	return b.String()
}

func lineEnds(s string, pty bool) string {
	if !pty {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}
