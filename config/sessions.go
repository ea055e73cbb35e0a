// Keys of recorded sessions and certificates: [ca], [recording] and the
// per-target logins, host_key and mode.
package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// CA holds the bastion's SSH user-certificate authority.
type CA struct {
	// Key is the CA private key, created (mode 0600) on first start.
	Key string `koanf:"key"`
	// CertTTL is how long a `cert` certificate is valid.
	CertTTL time.Duration `koanf:"cert_ttl"`
	// GroupCertTTL overrides CertTTL per group; a user in several such
	// groups gets the shortest.
	GroupCertTTL map[string]time.Duration `koanf:"group_cert_ttl"`
	// SourceAddresses go into the source-address option of `cert`
	// certificates; empty means this host's own addresses.
	SourceAddresses []string `koanf:"source_addresses"`
}

// Recording holds where and how recorded sessions are written.
type Recording struct {
	Dir         string `koanf:"dir"`
	RecordInput bool   `koanf:"record_input"`
	// MaxSize caps one recording in bytes (0 = no cap).
	MaxSize int64 `koanf:"max_size"`
	// OnMaxSize is "stop" (stop recording, audit it) or "end" (end the session).
	OnMaxSize string `koanf:"on_max_size"`
	// OnFailure is "refuse" (a session whose recording fails is refused or
	// ended) or "continue".
	OnFailure string `koanf:"on_failure"`
}

// Target modes.
const (
	ModeJump    = "jump"
	ModeSession = "session"
	ModeBoth    = "both"
)

// ReservedCommand is the one `ssh user@bastion WORD` that is not a target.
const ReservedCommand = "cert"

func defaultCA() CA {
	return CA{Key: "state/user_ca_key", CertTTL: 8 * time.Hour,
		GroupCertTTL: map[string]time.Duration{}, SourceAddresses: []string{}}
}

func defaultRecording() Recording {
	return Recording{Dir: "state/recordings", RecordInput: true, MaxSize: 100 << 20, OnMaxSize: "stop", OnFailure: "refuse"}
}

var (
	loginRE      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)
	targetNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}$`)
)

// ValidLogin reports whether s may be a backend login name.
func ValidLogin(s string) bool { return loginRE.MatchString(s) }

// TargetMode returns t's mode, with the default filled in.
func (t Target) TargetMode() string {
	if t.Mode == "" {
		return ModeBoth
	}
	return t.Mode
}

// PinnedKey parses host_key; nil when unset.
func (t Target) PinnedKey() (ssh.PublicKey, error) {
	if t.HostKey == "" {
		return nil, nil
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
	return k, err
}

func validateTargetSessions(key string, t Target) error {
	if !targetNameRE.MatchString(t.Name) || t.Name == ReservedCommand {
		return fmt.Errorf("key %s.name: %q is not a usable target name (letters, digits, . _ : -; not %q)", key, t.Name, ReservedCommand)
	}
	for _, l := range t.Logins {
		if !ValidLogin(l) {
			return fmt.Errorf("key %s.logins: %q is not a valid login name", key, l)
		}
	}
	if _, err := t.PinnedKey(); err != nil {
		return fmt.Errorf("key %s.host_key: want \"TYPE BASE64\" as in known_hosts: %v", key, err)
	}
	switch t.Mode {
	case "", ModeJump, ModeSession, ModeBoth:
	default:
		return fmt.Errorf("key %s.mode: want jump, session or both, got %q", key, t.Mode)
	}
	if t.Mode == ModeSession && len(t.Logins) == 0 {
		return fmt.Errorf("key %s: mode = \"session\" needs logins", key)
	}
	return nil
}

func (c *Config) validateSessions() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, a...))
	}
	for key, v := range map[string]string{"ca.key": c.CA.Key,
		"recording.dir": c.Recording.Dir, "upstream.known_hosts": c.Upstream.KnownHosts} {
		if v == "" {
			return bad(key, "must not be empty")
		}
	}
	if c.CA.CertTTL <= 0 {
		return bad("ca.cert_ttl", "must be > 0")
	}
	for g, ttl := range c.CA.GroupCertTTL {
		if ttl <= 0 {
			return bad("ca.group_cert_ttl."+g, "must be > 0")
		}
	}
	for _, a := range c.CA.SourceAddresses {
		if _, err := netip.ParsePrefix(a); err != nil {
			if _, err := netip.ParseAddr(a); err != nil || strings.Contains(a, "%") {
				return bad("ca.source_addresses", "%q is not an address or CIDR", a)
			}
		}
	}
	r := c.Recording
	if r.MaxSize < 0 {
		return bad("recording.max_size", "must be >= 0 (0 = no cap)")
	}
	if r.OnMaxSize != "stop" && r.OnMaxSize != "end" {
		return bad("recording.on_max_size", "want \"stop\" or \"end\", got %q", r.OnMaxSize)
	}
	if r.OnFailure != "refuse" && r.OnFailure != "continue" {
		return bad("recording.on_failure", "want \"refuse\" or \"continue\", got %q", r.OnFailure)
	}
	return nil
}

// CertTTLFor is the `cert` lifetime for a member of groups.
func (c *Config) CertTTLFor(groups []string) time.Duration {
	ttl := time.Duration(0)
	for _, g := range groups {
		if d, ok := c.CA.GroupCertTTL[g]; ok && (ttl == 0 || d < ttl) {
			ttl = d
		}
	}
	if ttl == 0 {
		return c.CA.CertTTL
	}
	return ttl
}
