// The server: accept loop, per-connection lifetime, grace deadline, shutdown.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/kbdint"
	"bastion/store"
)

// Auditor appends audit events; an error means the event was not recorded.
type Auditor interface {
	Append(audit.Event) error
}

// Options build a Server.
type Options struct {
	Config   *config.Config
	Store    *store.Store
	Audit    Auditor
	HostKeys []ssh.Signer
	Verifier *kbdint.Verifier
	Log      *slog.Logger
}

// Server is the bastion's SSH server.
type Server struct {
	config   atomic.Pointer[config.Config]
	store    *store.Store
	auditor  Auditor
	hostKeys []ssh.Signer
	verifier *kbdint.Verifier
	log      *slog.Logger

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[string]*ssh.ServerConn
}

// New returns a Server; it does not listen yet.
func New(o Options) *Server {
	s := &Server{store: o.Store, auditor: o.Audit, hostKeys: o.HostKeys, verifier: o.Verifier, log: o.Log,
		conns: map[string]*ssh.ServerConn{}}
	s.config.Store(o.Config)
	return s
}

func (s *Server) cfg() *config.Config { return s.config.Load() }

// SetConfig swaps the config atomically; open sessions keep running and new
// jumps see the new targets.
func (s *Server) SetConfig(c *config.Config) { s.config.Store(c) }

// audit records e. Under audit_on_failure = "refuse" the error is returned so
// the caller fails closed; under "continue" it is logged and swallowed.
func (s *Server) audit(e audit.Event) error {
	err := s.auditor.Append(e)
	if err == nil {
		return nil
	}
	s.log.Error("audit append failed", "err", err, "event", e.Type, "conn_id", e.ConnID)
	if s.cfg().AuditOnFailure == "continue" {
		return nil
	}
	return err
}

// Serve accepts connections until ctx is done, then stops accepting, lets
// open jumps drain for shutdown_grace, and closes what is left.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(ctx, nc)
		}()
	}
	return s.drain()
}

func (s *Server) drain() error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg().ShutdownGrace):
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}

func newConnID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// handleConn owns one TCP connection from accept to close.
func (s *Server) handleConn(ctx context.Context, nc net.Conn) {
	connID := newConnID()
	log := s.log.With("conn_id", connID, "source", nc.RemoteAddr().String())
	defer nc.Close()
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic in connection; closing it", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()

	cfg := s.cfg()
	nc.SetDeadline(time.Now().Add(cfg.Auth.LoginGraceTime))
	flow := &authFlow{srv: s, connID: connID, source: nc.RemoteAddr().String()}
	sconn, chans, reqs, err := ssh.NewServerConn(nc, flow.serverConfig())
	if err != nil {
		reason := err.Error()
		flow.mu.Lock()
		if flow.lastErr != nil {
			reason = flow.lastErr.Error()
		}
		flow.mu.Unlock()
		log.Info("login failed", "user", userOf(sconn), "reason", reason)
		if flow.attempts > 0 || flow.lastErr != nil {
			s.audit(flow.event(audit.Event{Type: "conn.denied", Result: "fail", Fields: map[string]string{"reason": reason}}))
		}
		return
	}
	nc.SetDeadline(time.Time{})
	id, err := identityOf(sconn.Permissions)
	if err != nil { // cannot happen with our callbacks; deny anyway
		log.Error("authenticated without identity", "err", err)
		sconn.Close()
		return
	}
	log = log.With("user", id.User)
	log.Info("login", "key_fp", id.KeyFP)

	s.mu.Lock()
	s.conns[connID] = sconn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, connID)
		s.mu.Unlock()
	}()

	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		<-connCtx.Done()
		sconn.Close()
	}()
	c := &conn{srv: s, id: id, connID: connID, source: flow.source, sconn: sconn, log: log, ctx: connCtx}
	go rejectGlobalRequests(reqs)
	c.serveChannels(chans)
	c.wg.Wait()
	s.audit(flow.event(audit.Event{Type: "conn.close", User: id.User}))
}

func userOf(c *ssh.ServerConn) string {
	if c == nil {
		return ""
	}
	return c.User()
}

// rejectGlobalRequests answers every global request (tcpip-forward,
// keepalive, ...) with failure: a jump host forwards nothing else.
func rejectGlobalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// Config returns the config in force.
func (s *Server) Config() *config.Config { return s.cfg() }
