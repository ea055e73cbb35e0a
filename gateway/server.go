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
	"net/netip"
	"os"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/kbdint"
	"bastion/limits"
	"bastion/session"
	"bastion/sockio"
	"bastion/store"
	"bastion/untrusted"
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
	// Sessions serves `ssh USER@bastion COMMAND` (recorded sessions, cert);
	// nil refuses every command.
	Sessions SessionServer
	Metrics  Metrics // nil: none
}

// SessionServer is what the gateway needs of package session.
type SessionServer interface {
	Serve(ctx context.Context, r session.Request)
}

// Server is the bastion's SSH server.
type Server struct {
	config   atomic.Pointer[config.Config]
	store    *store.Store
	auditor  Auditor
	hostKeys []ssh.Signer
	verifier *kbdint.Verifier
	log      *slog.Logger
	sessions SessionServer
	metrics  Metrics

	limiter atomic.Pointer[limits.Limiter]
	// throttle bounds what unauthenticated clients can make the audit log
	// write, and counts the rest into preauth.summary records.
	throttle *audit.Throttle

	// connsCtx is the parent of every connection; cancelled with a cause
	// when the shutdown grace runs out.
	connsCtx  context.Context
	stopConns context.CancelCauseFunc

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[string]net.Conn // every open connection, authenticated or not
	jumps map[string]int      // open jumps per user
	// authed holds the authenticated connections for the revocation check (revoke.go).
	authed map[*conn]struct{}
}

// Phases of an unauthenticated connection, for eviction (limits.AdmitEvictable).
const (
	phasePending int32 = iota
	phaseEvicted
	phaseAuthenticated
)

// ErrShutdown is the cause given to connections closed at the end of the shutdown grace.
var ErrShutdown = errors.New("server shutting down")

// New returns a Server; it does not listen yet.
func New(o Options) *Server {
	s := &Server{store: o.Store, auditor: o.Audit, hostKeys: o.HostKeys, verifier: o.Verifier, log: o.Log, sessions: o.Sessions,
		conns: map[string]net.Conn{}, jumps: map[string]int{}}
	s.connsCtx, s.stopConns = context.WithCancelCause(context.Background())
	if s.metrics = o.Metrics; s.metrics == nil {
		s.metrics = noMetrics{}
	}
	s.throttle = audit.NewThrottle(s.audit, audit.ThrottleOptions{})
	s.SetConfig(o.Config)
	return s
}

func (s *Server) cfg() *config.Config { return s.config.Load() }

// SetConfig swaps the config atomically; open sessions keep running, new
// jumps see the new targets. New limits start with a fresh penalty table.
// The config must have passed Validate.
func (s *Server) SetConfig(c *config.Config) {
	lc, err := c.LimitsConfig()
	if err != nil {
		panic("gateway: SetConfig with an unvalidated config: " + err.Error())
	}
	if old := s.config.Load(); old == nil || !reflect.DeepEqual(old.Limits, c.Limits) {
		s.limiter.Store(limits.New(lc, nil, nil))
	}
	s.config.Store(c)
}

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
// open connections drain for shutdown_grace, and closes what is left, with
// ErrShutdown as the recorded reason.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	summaryCtx, stopSummaries := context.WithCancel(context.Background())
	summariesDone := make(chan struct{})
	go func() {
		defer close(summariesDone)
		s.throttle.Run(summaryCtx)
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	watchCtx, stopWatch := context.WithCancel(s.connsCtx)
	defer stopWatch()
	go s.watchRevocations(watchCtx)
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				stopSummaries()
				<-summariesDone
				return err
			}
			// EMFILE, ENFILE, ECONNABORTED...: keep serving the open
			// connections and retry, backing off up to a second.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed; retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(s.connsCtx, nc)
		}()
	}
	err := s.drain()
	stopSummaries()
	<-summariesDone // the last preauth.summary is written
	return err
}

func (s *Server) drain() error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg().ShutdownGrace):
	}
	s.stopConns(ErrShutdown)
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
	authenticated, closed := s.metrics.ConnOpened()
	defer closed()
	log := s.log.With("conn_id", connID, "source", nc.RemoteAddr().String())
	s.mu.Lock()
	s.conns[connID] = nc
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, connID)
		s.mu.Unlock()
		nc.Close()
	}()
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic in connection; closing it", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()

	cfg := s.cfg()
	// The grace deadline covers the PROXY header, banner, kex and all auth rounds.
	graceEnd := time.Now().Add(cfg.Auth.LoginGraceTime)
	nc.SetDeadline(graceEnd)
	src, err := limits.SourceAddr(addrPort(nc.RemoteAddr()), nc, cfg.TrustedProxies())
	if err != nil {
		log.Info("bad PROXY header from a trusted proxy", "err", untrusted.Text(err.Error(), untrusted.MaxText))
		s.metrics.Refused(err)
		s.throttle.Count(addrPort(nc.RemoteAddr()).Addr().String(), "refused_proxy_header")
		return
	}
	log = log.With("client", src.String())
	lim := s.limiter.Load()
	// A full pool evicts the oldest connection of the biggest holder.
	// The first of eviction and the end of authentication wins, so a
	// connection that just authenticated is never closed as evicted.
	var phase atomic.Int32 // phasePending, phaseEvicted or phaseAuthenticated
	evicted := func() bool { return phase.Load() == phaseEvicted }
	release, err := lim.AdmitEvictable(src.Addr(), func() {
		if phase.CompareAndSwap(phasePending, phaseEvicted) {
			nc.Close()
		}
	})
	defer release()
	if err != nil {
		log.Debug("connection refused before authentication", "reason", err)
		s.metrics.Refused(err)
		s.throttle.Count(src.Addr().String(), "refused_admission")
		return
	}
	out := sockio.New(nc) // raw non-blocking reads and writes (sockio)
	version, rc, err := peekVersion(out, cfg.SSH.ClientVersionWait, graceEnd)
	if err != nil {
		if evicted() {
			lim.Failed(src.Addr())
		}
		log.Debug("connection closed before its identification line", "err", err)
		return
	}
	flow := &authFlow{srv: s, connID: connID, source: src.String(), addr: src.Addr(), hangUp: func() { nc.Close() },
		preauth: s.throttle.Conn(src.Addr().String()),
		extend:  func(d time.Duration) { nc.SetDeadline(time.Now().Add(d)) }, graceEnd: graceEnd}
	sconn, chans, reqs, err := ssh.NewServerConn(rc, flow.serverConfig(ciphersFor(version, cfg.SSH)))
	if err == nil && !phase.CompareAndSwap(phasePending, phaseAuthenticated) {
		sconn.Close()
		err = errors.New("evicted")
	}
	release()
	if err != nil {
		var penalty time.Duration
		if flow.tried() || errors.Is(err, os.ErrDeadlineExceeded) || evicted() {
			penalty = lim.Failed(src.Addr()) // an eviction is an abandoned login, like the grace deadline
		}
		user, reason := flow.outcome(err)
		if evicted() {
			reason = "evicted: unauthenticated pool full"
		}
		log.Info("login failed", "user", user, "reason", reason)
		if flow.tried() && !flow.wasRefused() { // refusals are counted, not written
			flow.audit(flow.event(audit.Event{Type: "conn.denied", User: user, Result: "fail", Fields: map[string]string{"reason": reason}}))
		}
		if penalty > 0 {
			log.Warn("source penalised", "penalty", penalty)
			flow.audit(flow.event(audit.Event{Type: "source.penalty", Result: "fail", Num: map[string]int64{"penalty_ms": penalty.Milliseconds()}}))
		}
		return
	}
	nc.SetDeadline(time.Time{})
	if writesGCM(sconn) {
		out.MergeSplitWrites() // one writev per data packet instead of two writes
	}
	lim.Succeeded(src.Addr())
	authenticated()
	id, err := identityOf(sconn.Permissions)
	if err != nil { // cannot happen with our callbacks; deny anyway
		log.Error("authenticated without identity", "err", err)
		sconn.Close()
		return
	}
	log = log.With("user", id.User)
	log.Info("login", "key_fp", id.KeyFP, "cipher", negotiatedCipher(sconn))

	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if max := cfg.Session.MaxSessionTime; max > 0 {
		var stop context.CancelFunc
		connCtx, stop = context.WithTimeoutCause(connCtx, max, errors.New("maximum session time reached"))
		defer stop()
	}
	context.AfterFunc(connCtx, func() { sconn.Close() })
	go keepalive(connCtx, sconn, cfg.Session, cancel)
	c := &conn{srv: s, id: id, connID: connID, source: flow.source, addr: flow.addr, sconn: sconn, log: log, ctx: connCtx, cancel: cancel,
		refusals: audit.NewBudget(refusedJumpBurst, refusedJumpEvery, nil)}
	defer s.track(c)()
	c.touch()
	if idle := cfg.Session.IdleTimeout; idle > 0 {
		go c.watchIdle(idle)
	}
	go rejectGlobalRequests(reqs)
	c.serveChannels(chans)
	c.wg.Wait()
	f := map[string]string{}
	if cause := context.Cause(connCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		f["reason"] = cause.Error()
	}
	var num map[string]int64
	if n := c.refusals.Skipped(); n > 0 {
		num = map[string]int64{"jumps_refused_unrecorded": int64(n)}
	}
	s.audit(flow.event(audit.Event{Type: "conn.close", User: id.User, Fields: f, Num: num}))
}

// keepalive asks the client for a reply every interval and cancels the
// connection after count_max unanswered requests, so a half-open client is
// torn down within interval × (count_max + 1).
func keepalive(ctx context.Context, sconn *ssh.ServerConn, ses config.Session, cancel context.CancelCauseFunc) {
	if ses.KeepaliveInterval <= 0 {
		return
	}
	t := time.NewTicker(ses.KeepaliveInterval)
	defer t.Stop()
	missed := 0
	replies := make(chan error, 1)
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-replies:
			pending = false
			if err != nil {
				return // connection gone
			}
			missed = 0
		case <-t.C:
			if pending {
				missed++
				if missed >= ses.KeepaliveCountMax {
					cancel(errors.New("client keepalive timeout"))
					return
				}
				continue
			}
			pending = true
			go func() {
				_, _, err := sconn.SendRequest("keepalive@openssh.com", true, nil)
				replies <- err
			}()
		}
	}
}

// addrPort converts a socket address; a non-TCP address maps to the zero value.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

// acquireJump reserves one of the user's concurrent jumps.
func (s *Server) acquireJump(user string) (release func(), ok bool) {
	max := s.cfg().Session.MaxJumpsPerUser
	s.mu.Lock()
	defer s.mu.Unlock()
	if max > 0 && s.jumps[user] >= max {
		return nil, false
	}
	s.jumps[user]++
	return func() {
		s.mu.Lock()
		s.jumps[user]--
		if s.jumps[user] <= 0 {
			delete(s.jumps, user)
		}
		s.mu.Unlock()
	}, true
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

// PreauthTotals counts, per class, what unauthenticated clients did that got
// no audit record of its own (see audit.Throttle.Totals), for metrics.
func (s *Server) PreauthTotals() map[string]uint64 { return s.throttle.Totals() }

// Config returns the config in force.
func (s *Server) Config() *config.Config { return s.cfg() }
