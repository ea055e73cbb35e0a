// The CA key and certificate issuing.
package ca

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Serials hands out certificate serial numbers; each call returns a number
// never returned before. The bastion uses the store's counter.
type Serials interface {
	Next() (uint64, error)
}

// SerialsFunc adapts a function to Serials.
type SerialsFunc func() (uint64, error)

// Next calls f.
func (f SerialsFunc) Next() (uint64, error) { return f() }

// CA signs user certificates.
type CA struct {
	signer  ssh.Signer
	serials Serials
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// New returns a CA that signs with signer and numbers with serials.
func New(signer ssh.Signer, serials Serials) *CA {
	return &CA{signer: signer, serials: serials}
}

// PublicKey is the CA's public key.
func (c *CA) PublicKey() ssh.PublicKey { return c.signer.PublicKey() }

func (c *CA) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// LoadKey reads the CA key at path, creating an ed25519 key (mode 0600, its
// directory 0700) if the file does not exist. A key readable by group or
// others is refused.
func LoadKey(path string) (ssh.Signer, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = generate(path)
	}
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("CA key %s is accessible by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	s, err := ssh.ParsePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", path, err)
	}
	return s, nil
}

func generate(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(k, "bastion user CA")
	if err != nil {
		return nil, err
	}
	raw := pem.EncodeToMemory(block)
	// O_EXCL: two processes starting at once must not both write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return raw, f.Close()
}

// Validity of session certificates: the bastion uses one at once, so a
// short window only has to absorb clock skew with the backend.
const (
	SessionBackdate = time.Minute
	SessionLifetime = 2 * time.Minute
)

// SessionRequest describes the bastion's own login to a backend.
type SessionRequest struct {
	Key       ssh.PublicKey // the fresh in-memory key the bastion dials with
	User      string        // the bastion user the session belongs to
	SessionID string
	Login     string   // the backend account: the only principal
	Sources   []string // addresses or CIDRs the backend sees the bastion connect from
}

// SessionCert issues a certificate for one recorded session.
func (c *CA) SessionCert(r SessionRequest) (*ssh.Certificate, error) {
	if r.User == "" || r.SessionID == "" || r.Login == "" || len(r.Sources) == 0 {
		return nil, errors.New("session certificate: user, session id, login and sources are required")
	}
	now := c.now()
	return c.sign(&ssh.Certificate{
		Key:             r.Key,
		CertType:        ssh.UserCert,
		KeyId:           r.User + " session=" + r.SessionID,
		ValidPrincipals: []string{r.Login},
		ValidAfter:      unixTime(now.Add(-SessionBackdate)),
		ValidBefore:     unixTime(now.Add(SessionLifetime)),
		Permissions: ssh.Permissions{
			CriticalOptions: map[string]string{"source-address": strings.Join(r.Sources, ",")},
			Extensions:      map[string]string{"permit-pty": ""},
		},
	})
}

// JumpRequest describes a certificate for a user's own key.
type JumpRequest struct {
	Key        ssh.PublicKey // the key the user logged in with (from the final Permissions)
	User       string
	Principals []string // the logins of the targets the user may reach
	TTL        time.Duration
	Sources    []string // source-address; empty means none
	NoPTY      bool     // leave out permit-pty (the key line says no-pty)
}

// JumpCert issues a certificate for `ssh -J` logins to backends.
func (c *CA) JumpCert(r JumpRequest) (*ssh.Certificate, error) {
	if r.User == "" || len(r.Principals) == 0 || r.TTL <= 0 {
		return nil, errors.New("jump certificate: user, principals and a TTL are required")
	}
	if _, ok := r.Key.(*ssh.Certificate); ok {
		return nil, errors.New("jump certificate: the key is itself a certificate")
	}
	now := c.now()
	perms := ssh.Permissions{
		CriticalOptions: map[string]string{},
		// What an interactive login needs; no forwarding of any kind.
		Extensions: map[string]string{"permit-pty": ""},
	}
	if r.NoPTY {
		delete(perms.Extensions, "permit-pty")
	}
	if len(r.Sources) > 0 {
		perms.CriticalOptions["source-address"] = strings.Join(r.Sources, ",")
	}
	return c.sign(&ssh.Certificate{
		Key:             r.Key,
		CertType:        ssh.UserCert,
		KeyId:           r.User,
		ValidPrincipals: r.Principals,
		ValidAfter:      unixTime(now.Add(-SessionBackdate)),
		ValidBefore:     unixTime(now.Add(r.TTL)),
		Permissions:     perms,
	})
}

func (c *CA) sign(cert *ssh.Certificate) (*ssh.Certificate, error) {
	if cert.Key == nil {
		return nil, errors.New("certificate: no key")
	}
	serial, err := c.serials.Next()
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	cert.Serial = serial
	if err := cert.SignCert(rand.Reader, c.signer); err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return cert, nil
}

func unixTime(t time.Time) uint64 {
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

// BackendSetup is what `bastion ca show` prints: the public key and the
// exact files a backend needs to trust it.
func BackendSetup(pub ssh.PublicKey) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " bastion-user-ca"
	return fmt.Sprintf(`# The bastion's user CA (%s):
%s

# On each backend, as root:
#   1. save the line above as /etc/ssh/bastion_user_ca.pub
#   2. create /etc/ssh/sshd_config.d/bastion.conf with:
TrustedUserCAKeys /etc/ssh/bastion_user_ca.pub
#   3. check and reload:  sshd -t && systemctl reload ssh
#
# The login must be one of the certificate's principals (the target's
# logins in the bastion config); sshd logs the key id (bastion user and
# session) and serial of every certificate it accepts.
# Proxmox VE: this is the only change. /etc/pam.d, the web login (port 8006)
# and existing authorized_keys are untouched.
`, ssh.FingerprintSHA256(pub), line)
}
