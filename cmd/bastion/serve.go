// `bastion serve`: wire the packages together and run until SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"bastion/audit"
	"bastion/auditsyslog"
	"bastion/ca"
	"bastion/config"
	"bastion/enroll"
	"bastion/gateway"
	"bastion/kbdint"
	"bastion/metrics"
	"bastion/session"
)

func serve(e *env) error {
	var level slog.Level
	level.UnmarshalText([]byte(e.cfg.LogLevel))
	log := newLogger(e.stderr, level, os.Getenv("JOURNAL_STREAM") != "")

	st, err := openStore(e)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	defer st.Close()
	logStateOpened(log, e, st)
	aopt, err := serverAuditOptions(e.cfg, log.Warn)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	if aopt.Mirror, err = auditMirror(e.cfg, st); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	alog, err := audit.Open(e.cfg.AuditLog, aopt)
	if err != nil {
		return fmt.Errorf("refusing to start: audit log: %w", err)
	}
	defer alog.Close()
	keys, err := gateway.LoadHostKeys(e.cfg.HostKeyDir)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	caKey, err := ca.LoadKey(e.cfg.CA.Key)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	recordings, err := session.OpenRecordings(e.cfg.Recording.Dir)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	defer recordings.Close()

	ops := &opsMetrics{m: metrics.New(version, commit)}
	ops.m.SetTargets(targetNames(e.cfg))
	var sink metrics.Appender = alog
	if e.cfg.AuditSyslog {
		sw := auditsyslog.New(e.cfg.AuditSyslogSocket)
		defer sw.Close() // after server.stop
		sink = auditsyslog.Appender{Next: alog, W: sw}
		ops.m.WatchSyslog(sw.Dropped)
	}
	ops.auditor = metrics.NewAuditor(sink, ops.m)
	tst := timedStore{st, ops.m}

	var srv *gateway.Server
	cfg := func() *config.Config { return srv.Config() }
	now := time.Now
	enr := &enroll.Enroller{
		Store: tst,
		Policy: func() (config.Enroll, int) {
			c := cfg()
			return c.Enroll, c.Auth.TOTPWindow
		},
		Label: enrollLabel(e.cfg),
		Now:   now,
	}
	ver := &kbdint.Verifier{
		Store: tst,
		Policy: func() kbdint.Policy {
			c := cfg()
			return kbdint.Policy{LockoutAfter: c.Auth.LockoutAfter, LockoutTime: c.Auth.LockoutTime}
		},
		Enroll: enr,
		Now:    now,
	}
	serials := ca.SerialsFunc(func() (uint64, error) { return st.NextSerial(context.Background()) })
	sessions := &session.Service{Config: cfg, CA: ca.New(caKey, serials),
		Users: st, Recordings: recordings, Log: log}
	srv = gateway.New(gateway.Options{Config: e.cfg, Store: st, Audit: ops.auditor, HostKeys: keys, Verifier: ver, Log: log, Sessions: sessions,
		Metrics: ops.m})
	ops.m.WatchJumps(srv.OpenJumps)
	ops.m.WatchAudit(alog.Stats)

	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return err
	}
	if err := ops.auditor.Append(audit.Event{Type: "server.start", Result: "ok", Fields: map[string]string{"listen": ln.Addr().String(), "config": e.cfgPath}}); err != nil {
		if errors.Is(err, audit.ErrCorrupt) {
			return fmt.Errorf("refusing to start: %w\nInspect it with `bastion audit verify`; to start a new chain, move the file aside (keep it as evidence)", err)
		}
		return fmt.Errorf("refusing to start: audit log: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ops.listening.Store(true)
	// The metrics listener outlives the SSH one: while open jumps drain
	// after SIGTERM, /healthz answers 503 and a load balancer moves on.
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	if err := ops.serveMetrics(metricsCtx, e.cfg, st, log); err != nil {
		return fmt.Errorf("refusing to start: metrics: %w", err)
	}
	log.Info("bastion listening", "addr", ln.Addr().String(), "config", e.cfgPath, "targets", len(e.cfg.Targets))
	// The listener accepts, the state and the audit log are open: tell systemd (Type=notify).
	notify(log, daemon.SdNotifyReady)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for sig := range sigs {
			if sig != syscall.SIGHUP {
				log.Info("shutting down", "signal", sig.String())
				notify(log, daemon.SdNotifyStopping)
				ops.listening.Store(false)
				stop()
				return
			}
			notify(log, daemon.SdNotifyReloading+"\nMONOTONIC_USEC="+monotonicUsec())
			reload(e.cfgPath, srv, ops.auditor, log)
			ops.m.SetTargets(targetNames(srv.Config()))
			notify(log, daemon.SdNotifyReady)
		}
	}()
	waitCheckpoints := signCheckpoints(ctx, alog, e.cfg.AuditCPEvery, log)
	err = srv.Serve(ctx, ln)
	waitCheckpoints()
	ops.auditor.Append(audit.Event{Type: "server.stop", Result: "ok"})
	if cerr := alog.Checkpoint(); cerr != nil {
		log.Error("audit checkpoint at shutdown failed", "err", cerr)
	}
	return err
}

// reload swaps in a new config; a bad one is rejected and the old stays.
func reload(path string, srv *gateway.Server, alog gateway.Auditor, log *slog.Logger) {
	c, err := config.Load(path)
	if err != nil {
		log.Error("config reload rejected; keeping the old config", "err", err)
		alog.Append(audit.Event{Type: "config.reload", Result: "fail", Fields: map[string]string{"reason": err.Error()}})
		return
	}
	old := srv.Config()
	if c.Listen != old.Listen || c.State != old.State || c.AuditLog != old.AuditLog || c.HostKeyDir != old.HostKeyDir {
		log.Warn("listen, state, audit_log and host_key_dir take effect only after a restart")
	}
	srv.SetConfig(c)
	log.Info("config reloaded", "targets", len(c.Targets))
	alog.Append(audit.Event{Type: "config.reload", Result: "ok", Num: map[string]int64{"targets": int64(len(c.Targets))}})
}

// newLogger writes the operational log as logfmt lines. Under systemd
// (JOURNAL_STREAM set) the journal stamps each line itself, so the time
// attribute is left out.
func newLogger(w io.Writer, level slog.Level, journal bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// notify sends state to systemd when it started us with a NOTIFY_SOCKET.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants with RELOADING=1.
func monotonicUsec() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprint(ts.Nano() / 1000)
}

func enrollLabel(c *config.Config) string {
	if c.Enroll.Host != "" {
		return c.Enroll.Host
	}
	h, _ := os.Hostname()
	return h
}
