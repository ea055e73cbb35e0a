// Package config owns bastion's configuration: the typed struct, its defaults,
// loading from TOML with koanf, and Validate. It never opens sockets or files
// other than the config file itself.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"bastion/limits"
	"bastion/oath"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"golang.org/x/crypto/ssh"
)

// Config is the whole configuration. Every key is documented in config.toml.example.
type Config struct {
	Listen     string `koanf:"listen"`
	HostKeyDir string `koanf:"host_key_dir"`
	State      string `koanf:"state"`
	StateKey   string `koanf:"state_key"`
	// StatePasswordFile holds the PostgreSQL password (never the URL);
	// empty: PGPASSWORD or PGPASSFILE, as libpq reads them.
	StatePasswordFile string        `koanf:"state_password_file"`
	StateMaxConns     int           `koanf:"state_max_conns"`
	StateQueryTimeout time.Duration `koanf:"state_query_timeout"`
	// ReplicaID names this bastion's audit chain in a shared PostgreSQL
	// state; empty: the host name (see ReplicaName).
	ReplicaID      string        `koanf:"replica_id"`
	AuditLog       string        `koanf:"audit_log"`
	AuditOnFailure string        `koanf:"audit_on_failure"`
	AuditMaxSize   int64         `koanf:"audit_max_size"`
	AuditKeepAge   time.Duration `koanf:"audit_retain_age"`
	AuditKeepSize  int64         `koanf:"audit_retain_size"`
	AuditDiskWarn  int64         `koanf:"audit_disk_warn"`
	// AuditSyslog also copies every audit event to the local syslog socket
	// AuditSyslogSocket (journald reads /dev/log); the file stays the record.
	AuditSyslog       bool          `koanf:"audit_syslog"`
	AuditSyslogSocket string        `koanf:"audit_syslog_socket"`
	AuditKey          string        `koanf:"audit_key"`
	AuditCPFile       string        `koanf:"audit_checkpoint"`
	AuditCPEvery      time.Duration `koanf:"audit_checkpoint_interval"`
	LogLevel          string        `koanf:"log_level"`
	Auth              Auth          `koanf:"auth"`
	Argon2            Argon2        `koanf:"argon2"`
	Enroll            Enroll        `koanf:"enroll"`
	Upstream          Upstream      `koanf:"upstream"`
	Limits            Limits        `koanf:"limits"`
	SSH               SSH           `koanf:"ssh"`
	Session           Session       `koanf:"session"`
	Metrics           Metrics       `koanf:"metrics"`
	CA                CA            `koanf:"ca"`
	Recording         Recording     `koanf:"recording"`
	Targets           []Target      `koanf:"target"`
	ShutdownGrace     time.Duration `koanf:"shutdown_grace"`
}

// Auth holds the login rules.
type Auth struct {
	LoginGraceTime time.Duration `koanf:"login_grace_time"`
	MaxAuthTries   int           `koanf:"max_auth_tries"`
	Max2FAAttempts int           `koanf:"max_2fa_attempts"`
	TOTPWindow     int           `koanf:"totp_window"`
	LockoutAfter   int           `koanf:"lockout_after"`
	LockoutTime    time.Duration `koanf:"lockout_time"`
	// PasswordPlusCode lets a client that can send only one password send
	// the password followed by the current code, after publickey; only
	// users in one of PasswordPlusCodeGroups may.
	PasswordPlusCode       bool     `koanf:"password_plus_code"`
	PasswordPlusCodeGroups []string `koanf:"password_plus_code_groups"`
}

// Argon2 holds the argon2id cost used for new password hashes.
type Argon2 struct {
	MemoryKiB uint32 `koanf:"memory_kib"`
	Time      uint32 `koanf:"time"`
	Threads   uint8  `koanf:"threads"`
}

// Enroll holds the first-login enrollment policy.
type Enroll struct {
	Policy        string        `koanf:"policy"`
	EnrollWindow  time.Duration `koanf:"enroll_window"`
	Issuer        string        `koanf:"issuer"`
	Host          string        `koanf:"host"`
	RecoveryCodes int           `koanf:"recovery_codes"`
	MaxTries      int           `koanf:"max_tries"`
	QRInverted    bool          `koanf:"qr_inverted"`
	MaxTime       time.Duration `koanf:"max_time"`
}

// Limits hold pre-authentication admission control (see package limits).
type Limits struct {
	MaxStartups      string        `koanf:"max_startups"`
	PerSourceMax     int           `koanf:"per_source_max"`
	PenaltyBase      time.Duration `koanf:"penalty_base"`
	PenaltyMax       time.Duration `koanf:"penalty_max"`
	PenaltyFreeFails int           `koanf:"penalty_free_fails"`
	PenaltyForget    time.Duration `koanf:"penalty_forget"`
	Exempt           []string      `koanf:"exempt"`
	TrustedProxies   []string      `koanf:"trusted_proxies"`
}

// SSH holds the transport algorithms offered to clients.
type SSH struct {
	// CiphersOpenSSH are offered to OpenSSH 6.2+ clients, recognised by the
	// identification line they send before the key exchange.
	CiphersOpenSSH []string `koanf:"ciphers_openssh"`
	// Ciphers are offered to every other client, and to one whose line did
	// not arrive within ClientVersionWait.
	Ciphers []string `koanf:"ciphers"`
	// ClientVersionWait bounds the wait for the client's line; 0 = do not wait
	// (everyone gets Ciphers).
	ClientVersionWait time.Duration `koanf:"client_version_wait"`
}

// Session holds the limits of authenticated connections.
type Session struct {
	KeepaliveInterval time.Duration `koanf:"keepalive_interval"`
	KeepaliveCountMax int           `koanf:"keepalive_count_max"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
	MaxSessionTime    time.Duration `koanf:"max_session_time"`
	MaxJumpsPerUser   int           `koanf:"max_jumps_per_user"`
	RecheckInterval   time.Duration `koanf:"recheck_interval"`
}

// Metrics holds the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port serving /metrics and /healthz; empty is off.
	Listen string `koanf:"listen"`
}

// Upstream holds how backends are dialed.
type Upstream struct {
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// KnownHosts holds the host keys `bastion target trust` stored, one
	// OpenSSH known_hosts line per key with the target name as host.
	KnownHosts string `koanf:"known_hosts"`
}

// Target is one named backend the bastion may jump to.
type Target struct {
	Name    string   `koanf:"name"`
	Address string   `koanf:"address"`
	Groups  []string `koanf:"groups"`
	Users   []string `koanf:"users"`
	// Logins are the backend accounts the bastion may certify for this
	// target (recorded sessions and `cert`); the first is the default.
	Logins []string `koanf:"logins"`
	// HostKey pins the backend's host key ("ssh-ed25519 AAAA..."); empty
	// means the key stored by `bastion target trust`.
	HostKey string `koanf:"host_key"`
	// Mode is "jump", "session" or "both" (empty means both).
	Mode string `koanf:"mode"`
}

// Enrollment policies.
const (
	PolicyFirstLogin = "first-login"
	PolicyToken      = "token"
	PolicyAdmin      = "admin"
)

// Default returns the embedded defaults that `make run` uses.
func Default() Config {
	return Config{
		Listen:            "127.0.0.1:2222",
		HostKeyDir:        "hostkeys",
		State:             "state/bastion.db",
		StateKey:          "state/state.key",
		StateMaxConns:     10,
		StateQueryTimeout: 5 * time.Second,
		AuditLog:          "state/audit.log",
		AuditOnFailure:    "refuse",
		AuditMaxSize:      100 << 20,
		AuditKeepAge:      365 * 24 * time.Hour,
		AuditKeepSize:     2 << 30,
		AuditDiskWarn:     512 << 20,
		AuditSyslogSocket: "/dev/log",
		AuditKey:          "state/audit_ed25519",
		AuditCPFile:       "state/audit.checkpoint",
		AuditCPEvery:      time.Minute,
		LogLevel:          "info",
		ShutdownGrace:     30 * time.Second,
		Auth: Auth{
			LoginGraceTime: 30 * time.Second,
			MaxAuthTries:   6,
			Max2FAAttempts: 3,
			TOTPWindow:     1,
			LockoutAfter:   3,
			LockoutTime:    5 * time.Minute,

			PasswordPlusCodeGroups: []string{},
		},
		Argon2: Argon2{MemoryKiB: 19 * 1024, Time: 2, Threads: 1},
		Enroll: Enroll{
			Policy:        PolicyFirstLogin,
			EnrollWindow:  72 * time.Hour,
			Issuer:        "Bastion",
			RecoveryCodes: 10,
			MaxTries:      3,
			MaxTime:       5 * time.Minute,
		},
		Upstream:  Upstream{DialTimeout: 5 * time.Second, KnownHosts: "state/known_hosts"},
		CA:        defaultCA(),
		Recording: defaultRecording(),
		Limits: Limits{
			MaxStartups:      "1000",
			PerSourceMax:     10,
			PenaltyBase:      5 * time.Second,
			PenaltyMax:       10 * time.Minute,
			PenaltyFreeFails: 3,
			PenaltyForget:    time.Hour,
			Exempt:           []string{},
			TrustedProxies:   []string{},
		},
		SSH: SSH{
			// OpenSSH clients take chacha20 or aes-ctr first whenever they are
			// offered, and x/crypto runs both far slower than AES-GCM.
			CiphersOpenSSH:    []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM},
			Ciphers:           []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherChaCha20Poly1305, ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR},
			ClientVersionWait: time.Second,
		},
		Session: Session{
			KeepaliveInterval: 15 * time.Second,
			KeepaliveCountMax: 3,
			MaxJumpsPerUser:   20,
			RecheckInterval:   5 * time.Second,
		},
	}
}

// Load reads a TOML file over the defaults, validates the result and makes
// every relative path in it absolute against the file's own directory (never
// the working directory), so the CLI and the server agree wherever they run.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.ResolvePaths(filepath.Dir(abs))
	return cfg, nil
}

// Paths lists the config's file and directory keys, so that every one of
// them is resolved the same way. A new path key must be added here.
func (c *Config) Paths() map[string]*string {
	return map[string]*string{
		"host_key_dir": &c.HostKeyDir,
		"state":        &c.State,
		"state_key":    &c.StateKey,
		"audit_log":    &c.AuditLog,

		"audit_syslog_socket": &c.AuditSyslogSocket,
		"audit_key":           &c.AuditKey,
		"audit_checkpoint":    &c.AuditCPFile,

		"upstream.known_hosts": &c.Upstream.KnownHosts,
		"ca.key":               &c.CA.Key,
		"recording.dir":        &c.Recording.Dir,
	}
}

// besideState moves every state file whose key is not set (state_key,
// audit_log, ...) next to the state file, keeping its default name: set
// state = "/var/lib/bastion/bastion.db" and they all follow it there.
func (c *Config) besideState(set func(key string) bool) {
	if c.StateIsURL() {
		return // PostgreSQL: the files stay at their defaults, beside the config
	}
	def := Default()
	defPaths := def.Paths()
	for key, p := range c.Paths() {
		d := *defPaths[key]
		if key != "state" && !set(key) && filepath.Dir(d) == filepath.Dir(def.State) {
			*p = filepath.Join(filepath.Dir(c.State), filepath.Base(d))
		}
	}
}

// ResolvePaths makes every relative path absolute against dir.
func (c *Config) ResolvePaths(dir string) {
	paths := c.Paths()
	if c.StateIsURL() {
		delete(paths, "state")
	}
	paths["state_password_file"] = &c.StatePasswordFile // optional
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// StateIsURL reports whether state names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than an SQLite file.
func (c *Config) StateIsURL() bool {
	return strings.HasPrefix(c.State, "postgres://") || strings.HasPrefix(c.State, "postgresql://")
}

// validateState checks a PostgreSQL URL: parsable, with a host and a
// database, and no password in it (a config file is read by many).
func (c *Config) validateState() error {
	if !c.StateIsURL() {
		return nil
	}
	u, err := url.Parse(c.State)
	if err != nil {
		return errors.New("not a valid postgres:// URL")
	}
	if _, set := u.User.Password(); set || u.Query().Has("password") {
		return errors.New("the URL carries a password: put it in state_password_file (or PGPASSWORD) instead")
	}
	if u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return errors.New("want postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full")
	}
	return nil
}

// Parse decodes TOML bytes over the defaults. Unknown keys are errors.
func Parse(data []byte) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider(data), toml.Parser()); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	cfg := Default()
	var unused []string
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			strictNumberHook,
			mapstructure.StringToTimeDurationHookFunc()),
		Metadata:         &mapstructure.Metadata{},
		Result:           &cfg,
		TagName:          "koanf",
		WeaklyTypedInput: false,
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	unused = dc.Metadata.Unused
	if len(unused) > 0 {
		return nil, fmt.Errorf("unknown key %q", unused[0])
	}
	cfg.besideState(k.Exists)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// strictNumberHook refuses numbers the decoder would otherwise bend silently:
// a bare number for a duration (it would mean nanoseconds, so lockout_time = 300
// would lock for 300ns), a fraction for an integer, and a value that does not
// fit the field (threads = 257 would wrap to 1).
func strictNumberHook(from, to reflect.Type, data any) (any, error) {
	var n int64
	switch v := data.(type) {
	case int64:
		n = v
	case float64:
		if to == durationType || !isInteger(to.Kind()) {
			break
		}
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return nil, fmt.Errorf("want a whole number in range, got %v", v)
		}
		n = int64(v)
	default:
		return data, nil
	}
	if to == durationType {
		if data != int64(0) && data != float64(0) {
			return nil, fmt.Errorf("want a duration with a unit such as \"30s\", got %v", data)
		}
		return "0s", nil
	}
	if !isInteger(to.Kind()) {
		return data, nil
	}
	zero := reflect.Zero(to)
	if to.Kind() >= reflect.Uint {
		if n < 0 || zero.OverflowUint(uint64(n)) {
			return nil, fmt.Errorf("%v is out of range", data)
		}
	} else if zero.OverflowInt(n) {
		return nil, fmt.Errorf("%v is out of range", data)
	}
	return n, nil
}

func isInteger(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Uint64 }

// Validate checks every key once; the error names the offending key.
func (c *Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, a...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "want host:port, got %q", c.Listen)
	}
	for key, p := range c.Paths() {
		if *p == "" {
			return bad(key, "must not be empty")
		}
	}
	if err := c.validateState(); err != nil {
		return bad("state", "%v", err)
	}
	if c.StateMaxConns < 1 || c.StateMaxConns > 1000 {
		return bad("state_max_conns", "must be 1..1000")
	}
	if c.StateQueryTimeout <= 0 {
		return bad("state_query_timeout", "must be > 0")
	}
	if c.ReplicaID != "" {
		if err := checkReplicaID(c.ReplicaID); err != nil {
			return bad("replica_id", "%v", err)
		}
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return bad("metrics.listen", "want host:port or empty (off), got %q", l)
		}
	}
	if c.AuditOnFailure != "refuse" && c.AuditOnFailure != "continue" {
		return bad("audit_on_failure", "want \"refuse\" or \"continue\", got %q", c.AuditOnFailure)
	}
	if c.AuditSyslog && c.AuditSyslogSocket == "" {
		return bad("audit_syslog_socket", "must not be empty when audit_syslog = true")
	}
	if c.AuditMaxSize < 0 {
		return bad("audit_max_size", "must be >= 0")
	}
	if c.AuditKeepAge < 0 {
		return bad("audit_retain_age", "must be >= 0 (0 = keep rotated files of any age)")
	}
	if c.AuditKeepSize < 0 {
		return bad("audit_retain_size", "must be >= 0 (0 = no size bound)")
	}
	if c.AuditDiskWarn < 0 {
		return bad("audit_disk_warn", "must be >= 0 (0 = never warn)")
	}
	if c.AuditKey != "" && c.AuditCPFile == "" {
		return bad("audit_checkpoint", "must be set when audit_key is")
	}
	if c.AuditCPEvery <= 0 {
		return bad("audit_checkpoint_interval", "must be > 0")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	a := c.Auth
	switch {
	case a.LoginGraceTime <= 0:
		return bad("auth.login_grace_time", "must be > 0")
	case a.MaxAuthTries < 1:
		return bad("auth.max_auth_tries", "must be >= 1")
	case a.Max2FAAttempts < 1:
		return bad("auth.max_2fa_attempts", "must be >= 1")
	case a.TOTPWindow < 0 || a.TOTPWindow > oath.MaxWindowSteps:
		return bad("auth.totp_window", "must be 0..%d", oath.MaxWindowSteps)
	case a.LockoutAfter < 1 || a.LockoutAfter > 100:
		return bad("auth.lockout_after", "must be 1..100 (NIST SP 800-63B allows at most 100)")
	case a.LockoutTime < 0:
		return bad("auth.lockout_time", "must be >= 0 (0 = until an admin unlocks)")
	case a.PasswordPlusCode && len(a.PasswordPlusCodeGroups) == 0:
		return bad("auth.password_plus_code_groups", "list the groups allowed to send password and code as one password")
	}
	if c.Argon2.MemoryKiB < 8 || c.Argon2.Time < 1 || c.Argon2.Threads < 1 {
		return bad("argon2", "memory_kib >= 8, time >= 1, threads >= 1")
	}
	e := c.Enroll
	switch e.Policy {
	case PolicyFirstLogin, PolicyToken, PolicyAdmin:
	default:
		return bad("enroll.policy", "want first-login, token or admin, got %q", e.Policy)
	}
	if e.EnrollWindow <= 0 {
		return bad("enroll.enroll_window", "must be > 0")
	}
	if e.Issuer == "" {
		return bad("enroll.issuer", "must not be empty")
	}
	if e.RecoveryCodes < 0 || e.RecoveryCodes > 50 {
		return bad("enroll.recovery_codes", "must be 0..50")
	}
	if e.MaxTries < 1 || e.MaxTries > 10 {
		return bad("enroll.max_tries", "must be 1..10")
	}
	if e.MaxTime < time.Second || e.MaxTime > time.Hour {
		return bad("enroll.max_time", "must be 1s..1h")
	}
	if c.Upstream.DialTimeout <= 0 {
		return bad("upstream.dial_timeout", "must be > 0")
	}
	if c.ShutdownGrace < 0 {
		return bad("shutdown_grace", "must be >= 0")
	}
	if _, err := c.LimitsConfig(); err != nil {
		return err
	}
	if _, err := parsePrefixes("limits.trusted_proxies", c.Limits.TrustedProxies); err != nil {
		return err
	}
	if err := c.SSH.validate(); err != nil {
		return err
	}
	ses := c.Session
	switch {
	case ses.KeepaliveInterval < 0:
		return bad("session.keepalive_interval", "must be >= 0 (0 = off)")
	case ses.KeepaliveCountMax < 1:
		return bad("session.keepalive_count_max", "must be >= 1")
	case ses.IdleTimeout < 0:
		return bad("session.idle_timeout", "must be >= 0 (0 = off)")
	case ses.MaxSessionTime < 0:
		return bad("session.max_session_time", "must be >= 0 (0 = off)")
	case ses.MaxJumpsPerUser < 0:
		return bad("session.max_jumps_per_user", "must be >= 0 (0 = unlimited)")
	case ses.RecheckInterval <= 0 || ses.RecheckInterval > time.Hour:
		return bad("session.recheck_interval", "must be > 0 and at most 1h")
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		key := fmt.Sprintf("target[%d]", i)
		if t.Name == "" {
			return bad(key+".name", "must not be empty")
		}
		if seen[t.Name] {
			return bad(key+".name", "duplicate target %q", t.Name)
		}
		seen[t.Name] = true
		host, port, err := net.SplitHostPort(t.Address)
		if err != nil || host == "" {
			return bad(key+".address", "want host:port, got %q", t.Address)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return bad(key+".address", "bad port in %q", t.Address)
		}
		if len(t.Groups) == 0 && len(t.Users) == 0 {
			return bad(key, "target %q allows nobody: set groups or users", t.Name)
		}
		if err := validateTargetSessions(key, t); err != nil {
			return err
		}
	}
	return c.validateSessions()
}

func (s SSH) validate() error {
	for key, list := range map[string][]string{"ssh.ciphers": s.Ciphers, "ssh.ciphers_openssh": s.CiphersOpenSSH} {
		if len(list) == 0 {
			return fmt.Errorf("key %s: must not be empty", key)
		}
		for _, c := range list {
			if !slices.Contains(ssh.SupportedAlgorithms().Ciphers, c) {
				return fmt.Errorf("key %s: %q is not one of %v", key, c, ssh.SupportedAlgorithms().Ciphers)
			}
		}
	}
	if s.ClientVersionWait < 0 || s.ClientVersionWait > 10*time.Second {
		return fmt.Errorf("key ssh.client_version_wait: must be 0s..10s")
	}
	return nil
}

// ErrNoConfig is returned by Find when neither candidate exists.
var ErrNoConfig = errors.New("no config file: pass -c FILE")

// Installed is the config the Debian package installs.
const Installed = "/etc/bastion/config.toml"

// Find picks the config path: the explicit one, else ./config.toml, else
// ./config.toml.example (a checkout), else the installed one.
func Find(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	for _, p := range []string{"config.toml", "config.toml.example", Installed} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoConfig
}

// LimitsConfig converts [limits] into the limits package's config.
func (c *Config) LimitsConfig() (limits.Config, error) {
	l := c.Limits
	ms, err := limits.ParseMaxStartups(l.MaxStartups)
	if err != nil {
		return limits.Config{}, fmt.Errorf("key limits.max_startups: %w", err)
	}
	exempt, err := parsePrefixes("limits.exempt", l.Exempt)
	if err != nil {
		return limits.Config{}, err
	}
	lc := limits.Config{
		MaxStartups:      ms,
		PerSourceMax:     l.PerSourceMax,
		PenaltyBase:      l.PenaltyBase,
		PenaltyMax:       l.PenaltyMax,
		PenaltyFreeFails: l.PenaltyFreeFails,
		PenaltyForget:    l.PenaltyForget,
		Exempt:           exempt,
	}
	if err := lc.Validate(); err != nil {
		return limits.Config{}, fmt.Errorf("key limits: %w", err)
	}
	return lc, nil
}

// TrustedProxies returns the parsed limits.trusted_proxies (validated at load).
func (c *Config) TrustedProxies() []netip.Prefix {
	p, _ := parsePrefixes("limits.trusted_proxies", c.Limits.TrustedProxies)
	return p
}

func parsePrefixes(key string, ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, fmt.Errorf("key %s: %q is not an address or CIDR", key, s)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
