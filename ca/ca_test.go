package ca

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func testCA(t *testing.T, now time.Time) (*CA, string) {
	t.Helper()
	dir := t.TempDir()
	signer, err := LoadKey(filepath.Join(dir, "ca", "user_ca_key"))
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	c := New(signer, SerialsFunc(func() (uint64, error) { last++; return last, nil }))
	c.Now = func() time.Time { return now }
	return c, dir
}

func freshKey(t *testing.T) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSessionCertFields(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c, _ := testCA(t, now)
	key := freshKey(t)
	cert, err := c.SessionCert(SessionRequest{Key: key, User: "alice", SessionID: "s1", Login: "root", Sources: []string{"10.0.0.5", "2001:db8::5"}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.CertType != ssh.UserCert {
		t.Errorf("type = %d, want user cert", cert.CertType)
	}
	if !bytes.Equal(cert.Key.Marshal(), key.Marshal()) {
		t.Error("certified key is not the requested key")
	}
	if cert.KeyId != "alice session=s1" {
		t.Errorf("key id = %q", cert.KeyId)
	}
	if !slices.Equal(cert.ValidPrincipals, []string{"root"}) {
		t.Errorf("principals = %q", cert.ValidPrincipals)
	}
	if got, want := cert.ValidAfter, uint64(now.Add(-time.Minute).Unix()); got != want {
		t.Errorf("valid after = %d, want %d", got, want)
	}
	if got, want := cert.ValidBefore, uint64(now.Add(2*time.Minute).Unix()); got != want {
		t.Errorf("valid before = %d, want %d", got, want)
	}
	if len(cert.CriticalOptions) != 1 || cert.CriticalOptions["source-address"] != "10.0.0.5,2001:db8::5" {
		t.Errorf("critical options = %v", cert.CriticalOptions)
	}
	if len(cert.Extensions) != 1 || cert.Extensions["permit-pty"] != "" {
		t.Errorf("extensions = %v, want only permit-pty", cert.Extensions)
	}
	if cert.Serial != 1 {
		t.Errorf("serial = %d, want 1", cert.Serial)
	}
	if !bytes.Equal(cert.SignatureKey.Marshal(), c.PublicKey().Marshal()) {
		t.Error("not signed by the CA")
	}
	// The signature verifies, and a checker at `now` accepts it for root
	// from the listed address only.
	checker := &ssh.CertChecker{
		IsUserAuthority: func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), c.PublicKey().Marshal()) },
		Clock:           func() time.Time { return now },
		// x/crypto's checker leaves source-address to the caller; sshd
		// enforces it (the e2e tests show that).
		SupportedCriticalOptions: []string{"source-address"},
	}
	if err := checker.CheckCert("root", cert); err != nil {
		t.Errorf("checker refused a good cert: %v", err)
	}
	if err := checker.CheckCert("admin", cert); err == nil {
		t.Error("checker accepted another principal")
	}
	checker.Clock = func() time.Time { return now.Add(2*time.Minute + time.Second) }
	if err := checker.CheckCert("root", cert); err == nil {
		t.Error("checker accepted the cert after ValidBefore")
	}
}

func TestJumpCertFields(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c, _ := testCA(t, now)
	key := freshKey(t)
	cert, err := c.JumpCert(JumpRequest{Key: key, User: "alice", Principals: []string{"root", "admin"}, TTL: 8 * time.Hour, Sources: []string{"192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if cert.KeyId != "alice" || !slices.Equal(cert.ValidPrincipals, []string{"root", "admin"}) {
		t.Errorf("key id %q principals %q", cert.KeyId, cert.ValidPrincipals)
	}
	if cert.ValidBefore != uint64(now.Add(8*time.Hour).Unix()) || cert.ValidAfter != uint64(now.Add(-time.Minute).Unix()) {
		t.Errorf("validity %d..%d", cert.ValidAfter, cert.ValidBefore)
	}
	if len(cert.Extensions) != 1 || cert.CriticalOptions["source-address"] != "192.0.2.1" {
		t.Errorf("extensions %v options %v", cert.Extensions, cert.CriticalOptions)
	}
	if !bytes.Equal(cert.Key.Marshal(), key.Marshal()) {
		t.Error("certified key is not the user's key")
	}
	noPTY, err := c.JumpCert(JumpRequest{Key: key, User: "alice", Principals: []string{"root"}, TTL: time.Hour, NoPTY: true})
	if err != nil || len(noPTY.Extensions) != 0 {
		t.Errorf("no-pty certificate has extensions %v (%v)", noPTY.Extensions, err)
	}
	if noPTY.Serial == cert.Serial {
		t.Error("two certificates share a serial")
	}
	// A certificate is not a key to certify.
	if _, err := c.JumpCert(JumpRequest{Key: cert, User: "alice", Principals: []string{"root"}, TTL: time.Hour}); err == nil {
		t.Error("certified a certificate")
	}
	if _, err := c.JumpCert(JumpRequest{Key: key, User: "alice", TTL: time.Hour}); err == nil {
		t.Error("issued a certificate without principals")
	}
}

func TestLoadKeyCreatesPrivateAndRefusesOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ca")
	s1, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	s2, err := LoadKey(path)
	if err != nil || !bytes.Equal(s1.PublicKey().Marshal(), s2.PublicKey().Marshal()) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable CA key was accepted: %v", err)
	}
}

func TestBackendSetup(t *testing.T) {
	c, _ := testCA(t, time.Now())
	out := BackendSetup(c.PublicKey())
	for _, want := range []string{
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(c.PublicKey()))),
		"/etc/ssh/sshd_config.d/bastion.conf",
		"\nTrustedUserCAKeys /etc/ssh/bastion_user_ca.pub\n",
		"/etc/pam.d",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ca show lacks %q:\n%s", want, out)
		}
	}
}
