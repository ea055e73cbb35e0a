// The authentication chain: one per-connection flow whose callbacks all lead
// to one decision, returned as the final ssh.Permissions.
package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/authkeys"
	"bastion/kbdint"
	"bastion/store"
	"bastion/untrusted"
)

// Keys of the final Permissions.Extensions: the only source of identity.
const (
	extUser   = "bastion-user"
	extKeyFP  = "bastion-key-fp"
	extKey    = "bastion-key" // the login key's wire form, for `cert`
	extGroups = "bastion-groups"
	extCred   = "bastion-cred" // credDigest of the user the login checked
)

// Algorithms: modern only, no SHA-1 anywhere.
var (
	kexAlgos = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384}
	// Ciphers come from [ssh] in the config, chosen per client (ciphersFor).
	macAlgos     = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM, ssh.HMACSHA256, ssh.HMACSHA512}
	userKeyAlgos = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
)

// authFlow is one connection's authentication state.
type authFlow struct {
	srv    *Server
	connID string
	source string
	addr   netip.Addr          // the client address source names, for key options
	extend func(time.Duration) // moves the handshake deadline (enrollment)
	// graceEnd is the handshake deadline (moved by extend): a login queued
	// for a password-hashing slot gives up then.
	graceEnd time.Time
	// hangUp closes the connection: a client whose version string or
	// user name is refused gets no further auth round.
	hangUp func()
	// preauth bounds the audit records of this connection until the
	// client proved it holds a user's key.
	preauth *audit.ConnThrottle

	mu       sync.Mutex
	pre      ssh.ServerPreAuthConn
	attempts int // keyboard-interactive rounds started
	lastErr  error
	user     string // the name the client asked for, cleaned (not an identity)
	refused  error  // why the connection was refused before authentication
	keyed    bool   // the client proved it holds one of the user's keys
	queried  bool   // a key was queried: conn.accept is recorded (once)
	// otherMethods are the methods other than publickey tried before a key
	// was proven (preauth.go), from a fixed set of names.
	otherMethods []string
}

func (f *authFlow) serverConfig(ciphers []string) *ssh.ServerConfig {
	cfg := f.srv.cfg()
	c := &ssh.ServerConfig{
		Config:                    ssh.Config{KeyExchanges: kexAlgos, Ciphers: ciphers, MACs: macAlgos},
		PublicKeyAuthAlgorithms:   userKeyAlgos,
		MaxAuthTries:              cfg.Auth.MaxAuthTries,
		ServerVersion:             "SSH-2.0-bastion",
		PublicKeyCallback:         f.queryKey,
		VerifiedPublicKeyCallback: f.verifiedKey,
		AuthLogCallback:           f.logAuth,
		PreAuthConnCallback: func(p ssh.ServerPreAuthConn) {
			f.mu.Lock()
			f.pre = p
			f.mu.Unlock()
			if err := untrusted.ClientVersion(string(p.ClientVersion())); err != nil {
				f.refuse("refused_client_version", err)
			}
		},
	}
	for _, k := range f.srv.hostKeys {
		c.AddHostKey(k)
	}
	return c
}

// notify shows msg to the client as an auth banner (best effort).
func (f *authFlow) notify(msg string) {
	f.mu.Lock()
	p := f.pre
	f.mu.Unlock()
	if p != nil {
		p.SendAuthBanner(msg)
	}
}

// authorizedKey reports whether key is one of user's keys.
func (f *authFlow) authorizedKey(user string, key ssh.PublicKey) error {
	u, err := f.srv.store.User(context.Background(), user)
	if errors.Is(err, store.ErrUnavailable) {
		f.notify(kbdint.MsgStoreDown) // the detail goes to the log with the login failure
		return err
	}
	if err != nil {
		return errors.New("unknown user or key")
	}
	return keyAllowed(u.Keys, key, f.addr, time.Now())
}

// keyAllowed reports whether key is one of lines and its options (from=,
// expiry-time=) allow it from addr at now. A line whose options cannot be
// parsed allows nothing.
func keyAllowed(lines []string, key ssh.PublicKey, addr netip.Addr, now time.Time) error {
	want := key.Marshal()
	var found *authkeys.Options
	for _, line := range lines {
		k, o, err := authkeys.Line(line)
		if err == nil && subtle.ConstantTimeCompare(k.Marshal(), want) == 1 {
			found = &o
		}
	}
	if found == nil {
		return errors.New("unknown user or key")
	}
	return found.Check(addr, now)
}

// refuse ends the connection before authentication: the client sent a
// version string or user name we do not take (see package untrusted). It is
// counted, not audited line by line, so it cannot fill the disk.
func (f *authFlow) refuse(class string, err error) {
	f.mu.Lock()
	first := f.refused == nil
	if first {
		f.refused, f.lastErr = err, err
	}
	f.mu.Unlock()
	if !first {
		return
	}
	if f.preauth != nil {
		f.preauth.Count(class)
	}
	if f.hangUp != nil {
		f.hangUp()
	}
}

func (f *authFlow) wasRefused() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused != nil
}

// audit records e: within the connection's and source's budget while the
// client has not proved a key (anyone can cause those records), in full
// once it has.
func (f *authFlow) audit(e audit.Event) error {
	f.mu.Lock()
	keyed := f.keyed
	f.mu.Unlock()
	if keyed || f.preauth == nil {
		return f.srv.audit(e)
	}
	return f.preauth.Append(e)
}

// queryKey answers key queries and pre-checks keys. It decides nothing about
// identity and records nothing but the connection's start: the key is not
// yet proven.
func (f *authFlow) queryKey(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if err := untrusted.UserName(conn.User()); err != nil {
		f.refuse("refused_user_name", err)
		return nil, err
	}
	f.mu.Lock()
	// Not f.user == "": logAuth already set it for the client's "none" request.
	first := !f.queried && f.refused == nil
	f.queried = true
	f.user = conn.User()
	f.mu.Unlock()
	if first {
		// Recorded once the client reached authentication (after admission
		// control), so a flood of silent connections cannot fill the disk.
		f.audit(f.event(audit.Event{Type: "conn.accept", User: conn.User(),
			Fields: map[string]string{"client_version": untrusted.Text(string(conn.ClientVersion()), untrusted.MaxClientVersion)}}))
	}
	if err := f.authorizedKey(conn.User(), key); err != nil {
		f.setErr(fmt.Errorf("publickey %s: %w", ssh.FingerprintSHA256(key), err))
		return nil, err
	}
	return &ssh.Permissions{}, nil
}

// verifiedKey runs after the client proved it holds key. It moves on to the
// second factor, carrying the fingerprint in the closure (not in Permissions).
func (f *authFlow) verifiedKey(conn ssh.ConnMetadata, key ssh.PublicKey, _ *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	user := conn.User()
	if err := f.authorizedKey(user, key); err != nil {
		return nil, err
	}
	fp := ssh.FingerprintSHA256(key)
	f.mu.Lock()
	f.keyed = true
	f.mu.Unlock()
	f.srv.audit(f.event(audit.Event{Type: "auth.publickey", User: user, Result: "ok", Fields: map[string]string{"fingerprint": fp}}))
	return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
		KeyboardInteractiveCallback: func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			return f.secondFactor(conn, client, user, fp, string(key.Marshal()))
		},
		PasswordCallback: f.passwordPlusCode(user, fp, string(key.Marshal())), // nil unless [auth] password_plus_code
	}}
}

// secondFactor is the final step; only its Permissions carry identity.
func (f *authFlow) secondFactor(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge, user, fp, keyWire string) (*ssh.Permissions, error) {
	if conn.User() != user { // the library forbids this after partial success; check anyway
		return nil, errors.New("user changed during authentication")
	}
	f.mu.Lock()
	f.attempts++
	n := f.attempts
	f.mu.Unlock()
	cfg := f.srv.cfg()
	if n > cfg.Auth.Max2FAAttempts {
		f.notify("bastion: too many attempts on this connection.\n")
		f.setErr(errors.New("too many second-factor attempts"))
		return nil, errTooMany
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	f.mu.Lock()
	grace := time.AfterFunc(time.Until(f.graceEnd), func() { cancel(errGraceOver) })
	f.mu.Unlock()
	defer grace.Stop()
	extend := func(d time.Duration) {
		f.extend(d)
		grace.Reset(d)
		f.mu.Lock()
		f.graceEnd = time.Now().Add(d)
		f.mu.Unlock()
	}
	u, err := f.srv.verifier.Login(ctx, kbdint.Attempt{
		User:           user,
		Source:         f.source,
		Notify:         f.notify,
		Audit:          func(e audit.Event) error { return f.srv.audit(f.event(e)) },
		ExtendDeadline: extend,
	}, client)
	if err != nil {
		f.setErr(err)
		return nil, err
	}
	return &ssh.Permissions{Extensions: map[string]string{
		extUser:   u.Name,
		extKeyFP:  fp,
		extKey:    keyWire,
		extGroups: strings.Join(u.Groups, ","),
		extCred:   credDigest(u),
	}}, nil
}

var (
	errTooMany   = errors.New("too many second-factor attempts")
	errGraceOver = errors.New("login grace time over")
)

// outcome is the requested user name and why the handshake failed.
func (f *authFlow) outcome(err error) (user, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reason = err.Error()
	if f.lastErr != nil {
		reason = f.lastErr.Error()
	} else if r := f.noKeyReason(); r != "" {
		reason = r
	}
	// The library's error may quote the client's disconnect message.
	return f.user, untrusted.Text(reason, untrusted.MaxText)
}

// tried reports whether the client attempted authentication (and failed).
func (f *authFlow) tried() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr != nil || f.attempts > 0 || len(f.otherMethods) > 0
}

func (f *authFlow) setErr(err error) {
	f.mu.Lock()
	f.lastErr = err
	f.mu.Unlock()
}

func (f *authFlow) event(e audit.Event) audit.Event {
	e.ConnID = f.connID
	e.Source = f.source
	return e
}

// identity is what the final Permissions say; nothing else is trusted.
type identity struct {
	User   string
	KeyFP  string
	Groups []string
	Key    ssh.PublicKey // the key that signed the login; nil only in tests
	Cred   string        // credDigest at login, compared by the revocation check
}

func identityOf(p *ssh.Permissions) (identity, error) {
	if p == nil || p.Extensions[extUser] == "" {
		return identity{}, errors.New("no identity in final permissions")
	}
	groups := slices.DeleteFunc(strings.Split(p.Extensions[extGroups], ","), func(s string) bool { return s == "" })
	key, _ := ssh.ParsePublicKey([]byte(p.Extensions[extKey]))
	return identity{User: p.Extensions[extUser], KeyFP: p.Extensions[extKeyFP], Groups: groups, Key: key, Cred: p.Extensions[extCred]}, nil
}
