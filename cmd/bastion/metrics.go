// Metrics wiring for `bastion serve`: the registry, /metrics and /healthz,
// and store latency for the login path.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"bastion/config"
	"bastion/metrics"
	"bastion/store"
)

// opsMetrics is what serve needs to run the metrics side.
type opsMetrics struct {
	m         *metrics.Metrics
	auditor   *metrics.Auditor
	listening atomic.Bool // the SSH listener is up
}

func targetNames(c *config.Config) []string {
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.Name
	}
	return names
}

// serveMetrics listens on [metrics] listen (when set) and serves until ctx ends.
func (o *opsMetrics) serveMetrics(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	if cfg.Metrics.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return err
	}
	h := o.m.Handler(
		metrics.Check{Name: "store", Fn: func(ctx context.Context) error {
			// A real query: a user that cannot exist must come back "not found".
			if _, err := st.User(ctx, ""); !errors.Is(err, store.ErrNotFound) {
				return errors.Join(errors.New("state store query failed"), err)
			}
			return nil
		}},
		metrics.AuditWritable(cfg.AuditLog, o.auditor),
		metrics.Check{Name: "listener", Fn: func(context.Context) error {
			if !o.listening.Load() {
				return errors.New("the SSH listener is not up")
			}
			return nil
		}},
	)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// timedStore measures the store queries of the login path.
type timedStore struct {
	*store.Store
	m *metrics.Metrics
}

func (t timedStore) since(op string, start time.Time) { t.m.ObserveQuery(op, time.Since(start)) }

func (t timedStore) User(ctx context.Context, name string) (*store.User, error) {
	defer t.since("user", time.Now())
	return t.Store.User(ctx, name)
}

func (t timedStore) ConsumeOTP(ctx context.Context, name string, now time.Time, lk store.Lockout, check func(store.OTP) (store.OTP, error)) (store.Failure, error) {
	defer t.since("consume_otp", time.Now())
	return t.Store.ConsumeOTP(ctx, name, now, lk, check)
}

func (t timedStore) UseRecoveryCode(ctx context.Context, name, code string, now time.Time, lk store.Lockout) (store.Failure, error) {
	defer t.since("use_recovery_code", time.Now())
	return t.Store.UseRecoveryCode(ctx, name, code, now, lk)
}

func (t timedStore) RecordFailure(ctx context.Context, name string, now time.Time, lk store.Lockout) (store.Failure, error) {
	defer t.since("record_failure", time.Now())
	return t.Store.RecordFailure(ctx, name, now, lk)
}

func (t timedStore) RecordSuccess(ctx context.Context, name string, now time.Time, source string) error {
	defer t.since("record_success", time.Now())
	return t.Store.RecordSuccess(ctx, name, now, source)
}

func (t timedStore) SetOTP(ctx context.Context, name string, o store.OTP, recovery []string, onlyIfPending bool) error {
	defer t.since("set_otp", time.Now())
	return t.Store.SetOTP(ctx, name, o, recovery, onlyIfPending)
}
