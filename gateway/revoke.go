// Revocation: an authenticated connection's user is checked against the
// store again on every new channel and every session.recheck_interval, so a
// user deleted, locked, reset or stripped of their key loses their open
// connections within seconds, without a signal to the server.
//
// Invariants:
//   - A channel is dispatched only after a fresh store read allowed it; the
//     groups that read returned (not the login's) decide the jump.
//   - A revoked user's connection is cancelled with the reason as its cause
//     (audited in conn.close); a store that cannot be read refuses new
//     channels but ends no connection.
//   - The periodic check reads each connected user's row once per round
//     from the shared store, so it works unchanged for replicas sharing one
//     database: whichever replica holds the connection sees the change.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/authkeys"
	"bastion/store"
	"bastion/untrusted"
)

// recheckTimeout bounds one store read of the revocation check.
const recheckTimeout = 3 * time.Second

// revokedError says why a user lost access; it is the cause that ends the
// connection and the text the client and the audit log see.
type revokedError struct{ reason string }

func (e *revokedError) Error() string { return "access revoked: " + e.reason }

// credDigest summarises the credentials a login proved (password hash, OTP
// kind and secret), so that a reset or a change of either is noticed. It
// stays in memory only, in the final Permissions.
func credDigest(u *store.User) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(u.PasswordHash), u.PasswordHash)
	if u.OTP != nil {
		fmt.Fprintf(h, "|%s|%d:", u.OTP.Params.Kind, len(u.OTP.Params.Secret))
		h.Write(u.OTP.Params.Secret)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stillAllowed decides whether the connection of id from addr may go on,
// given a fresh read (u, err) of its user. It returns a *revokedError when
// access is gone, another error when the store could not say.
func stillAllowed(u *store.User, err error, id identity, addr netip.Addr, now time.Time) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &revokedError{"user deleted"}
	case err != nil:
		return fmt.Errorf("check user %s: %w", id.User, err)
	case u.Locked(now):
		return &revokedError{"account locked"}
	case u.OTP == nil:
		return &revokedError{"second factor reset"}
	case credDigest(u) != id.Cred:
		return &revokedError{"credentials changed"}
	}
	for _, line := range u.Keys {
		k, o, err := authkeys.Line(line)
		if err != nil || ssh.FingerprintSHA256(k) != id.KeyFP {
			continue
		}
		if err := o.Check(addr, now); err != nil {
			return &revokedError{err.Error()}
		}
		return nil
	}
	return &revokedError{"key removed"}
}

// check reads the user again and applies stillAllowed; on success it keeps
// the groups it read for the channels that follow.
func (c *conn) check(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	u, err := c.srv.store.User(qctx, c.id.User)
	cancel()
	if err = stillAllowed(u, err, c.id, c.addr, time.Now()); err != nil {
		return err
	}
	g := u.Groups
	c.groups.Store(&g)
	return nil
}

// currentGroups are the groups of the last check (the login's before any).
func (c *conn) currentGroups() []string {
	if g := c.groups.Load(); g != nil {
		return *g
	}
	return c.id.Groups
}

// admitChannel re-checks the user before a new channel is dispatched. A
// revoked user's channel is refused and their connection ended; a store that
// cannot be read refuses the channel only.
func (c *conn) admitChannel(nch ssh.NewChannel) bool {
	err := c.check(c.ctx)
	if err == nil {
		return true
	}
	var rev *revokedError
	e := audit.Event{Type: "channel.refused", Result: "fail", Fields: map[string]string{
		"channel": untrusted.Text(nch.ChannelType(), 64), "reason": "account check failed: " + untrusted.Text(err.Error(), 256)}}
	if errors.As(err, &rev) {
		e.Fields["reason"] = rev.Error()
		c.srv.audit(c.event(e)) // once: the connection ends
		nch.Reject(ssh.Prohibited, "bastion: "+rev.Error())
		c.revoke(rev)
		return false
	}
	c.auditRefusal(e) // rate-limited per connection, like refused jumps
	nch.Reject(ssh.ResourceShortage, "bastion: your account cannot be checked right now; try again later")
	return false
}

// revoke ends the connection with err as its recorded reason.
func (c *conn) revoke(err *revokedError) {
	c.log.Info("connection revoked", "reason", err.reason)
	c.cancel(err)
}

// track registers an authenticated connection for the periodic check and
// returns the function that removes it.
func (s *Server) track(c *conn) (untrack func()) {
	s.mu.Lock()
	if s.authed == nil {
		s.authed = map[*conn]struct{}{}
	}
	s.authed[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.authed, c)
		s.mu.Unlock()
	}
}

// watchRevocations checks every connected user each session.recheck_interval
// until ctx is done.
func (s *Server) watchRevocations(ctx context.Context) {
	t := time.NewTimer(s.cfg().Session.RecheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.recheckAll(ctx)
		t.Reset(s.cfg().Session.RecheckInterval)
	}
}

// recheckAll reads each connected user once and ends the connections that
// lost access. Store errors end nothing: they are logged and retried next round.
func (s *Server) recheckAll(ctx context.Context) {
	byUser := map[string][]*conn{}
	s.mu.Lock()
	for c := range s.authed {
		byUser[c.id.User] = append(byUser[c.id.User], c)
	}
	s.mu.Unlock()
	for user, conns := range byUser {
		qctx, cancel := context.WithTimeout(ctx, recheckTimeout)
		u, readErr := s.store.User(qctx, user)
		cancel()
		if readErr != nil && !errors.Is(readErr, store.ErrNotFound) {
			s.log.Warn("revocation check failed; connections kept", "user", user, "err", readErr)
			continue
		}
		now := time.Now()
		for _, c := range conns {
			var rev *revokedError
			if errors.As(stillAllowed(u, readErr, c.id, c.addr, now), &rev) {
				c.revoke(rev)
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}
