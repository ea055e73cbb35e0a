// Protocol-level tests of the auth chain and channels: an in-process server on
// 127.0.0.1:0 with a real state file, driven by the x/crypto SSH client.
package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/enroll"
	"bastion/kbdint"
	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC)

const password = "correct horse battery"

// recorder is an Auditor that keeps events and can be made to fail.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	fail   atomic.Bool
}

func (r *recorder) Append(e audit.Event) error {
	if r.fail.Load() {
		return errors.New("disk full")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) count(typ, result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == typ && (result == "" || e.Result == result) {
			n++
		}
	}
	return n
}

type testServer struct {
	t       testing.TB
	addr    string
	store   *store.Store
	audit   *recorder
	srv     *Server
	backend net.Listener
	dials   atomic.Int64 // connections the backend accepted
	params  oath.Params
	keys    map[string]ssh.Signer
	stop    context.CancelFunc // stop accepting: the start of a shutdown
	stopped chan struct{}      // closed when Serve returned
}

// newTestServer starts a server with targets "pve1" (an echo backend, group
// ops) and users alice and bob (both TOTP, group ops).
func newTestServer(t testing.TB, tune func(*config.Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, tune, nil)
}

// newTestServerWith is newTestServer whose verifier uses wrap(store) when wrap is not nil.
func newTestServerWith(t testing.TB, tune func(*config.Config), wrap func(*store.Store) kbdint.Store) *testServer {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir+"/state.db", dir+"/state.key")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := &testServer{t: t, store: st, audit: &recorder{}, keys: map[string]ssh.Signer{},
		params: oath.Params{Kind: oath.KindTOTP, Secret: []byte("12345678901234567890"), Digits: 6, Period: 30, Window: 1}}

	ts.backend, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.backend.Close() })
	go func() {
		for {
			c, err := ts.backend.Accept()
			if err != nil {
				return
			}
			ts.dials.Add(1)
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Auth.LockoutTime = 0
	cfg.Limits.PenaltyFreeFails = 1000
	cfg.Targets = []config.Target{{Name: "pve1", Address: ts.backend.Addr().String(), Groups: []string{"ops"}}}
	if tune != nil {
		tune(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	hash, err := passwd.Hash(password, passwd.Params{MemoryKiB: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		signer, _ := ssh.NewSignerFromKey(priv)
		ts.keys[name] = signer
		line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
		if err := st.AddUser(context.Background(), store.NewUser{Name: name, PasswordHash: hash, Groups: []string{"ops"}, Keys: []string{line}}, t0); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOTP(context.Background(), name, store.OTP{Params: ts.params}, []string{"aaaaa-bbbbb"}, false); err != nil {
			t.Fatal(err)
		}
	}
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(hostPriv)
	now := func() time.Time { return t0 }
	var kst kbdint.Store = st
	if wrap != nil {
		kst = wrap(st)
	}
	ver := &kbdint.Verifier{Store: kst, Now: now, Policy: func() kbdint.Policy {
		c := ts.srv.Config()
		return kbdint.Policy{LockoutAfter: c.Auth.LockoutAfter, LockoutTime: c.Auth.LockoutTime}
	}}
	ver.Enroll = &enroll.Enroller{Store: st, Now: now, Policy: func() (config.Enroll, int) {
		c := ts.srv.Config()
		return c.Enroll, c.Auth.TOTPWindow
	}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts.srv = New(Options{Config: &cfg, Store: st, Audit: ts.audit, HostKeys: []ssh.Signer{hostKey}, Verifier: ver, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop, ts.stopped = cancel, make(chan struct{})
	go func() { ts.srv.Serve(ctx, ln); close(ts.stopped) }()
	t.Cleanup(func() { cancel(); <-ts.stopped })
	return ts
}

// code is the TOTP code for the server's fixed clock plus steps.
func (ts *testServer) code(steps int64) string {
	return oath.Code(ts.params, uint64(oath.Step(ts.params, t0)+steps))
}

// answers is a keyboard-interactive client that answers each round in turn.
func answers(rounds ...[]string) ssh.KeyboardInteractiveChallenge {
	var mu sync.Mutex
	i := 0
	return func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(questions) == 0 {
			return nil, nil
		}
		if i >= len(rounds) {
			return nil, errors.New("no more answers")
		}
		i++
		return rounds[i-1], nil
	}
}

type dialOpts struct {
	user     string
	signers  []ssh.Signer
	kbd      ssh.KeyboardInteractiveChallenge
	password string // a `password` request after the others, if set
	banner   *strings.Builder
}

func (ts *testServer) dial(o dialOpts) (*ssh.Client, error) {
	var methods []ssh.AuthMethod
	if len(o.signers) > 0 {
		methods = append(methods, ssh.PublicKeys(o.signers...))
	}
	if o.kbd != nil {
		methods = append(methods, ssh.KeyboardInteractive(o.kbd))
	}
	if o.password != "" {
		methods = append(methods, ssh.Password(o.password))
	}
	cc := &ssh.ClientConfig{User: o.user, Auth: methods, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
	if o.banner != nil {
		cc.BannerCallback = func(m string) error { o.banner.WriteString(m); return nil }
	}
	return ssh.Dial("tcp", ts.addr, cc)
}

func (ts *testServer) login(user string, steps int64) (*ssh.Client, error) {
	return ts.dial(dialOpts{user: user, signers: []ssh.Signer{ts.keys[user]}, kbd: answers([]string{password}, []string{ts.code(steps)})})
}

// whoami opens the session channel and returns what the bastion prints.
func whoami(t *testing.T, c *ssh.Client) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, _ := s.Output("")
	return string(out)
}

func TestLoginAndJump(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Dial("tcp", "pve1:22")
	if err != nil {
		t.Fatalf("jump: %v", err)
	}
	fmt.Fprint(conn, "ping")
	buf := make([]byte, 4)
	io.ReadFull(conn, buf)
	if string(buf) != "ping" {
		t.Fatalf("echo through the jump: %q", buf)
	}
	conn.Close()
	if !strings.Contains(whoami(t, c), "Hello alice.") {
		t.Fatal("session does not greet alice")
	}
}

// swapped offers one key but signs with another.
type swapped struct {
	ssh.Signer
	pub ssh.PublicKey
}

func (s swapped) PublicKey() ssh.PublicKey { return s.pub }

// Issue 5 #1: offer B's key, sign with A's → never B's session.
func TestKeyQuerySwap(t *testing.T) {
	ts := newTestServer(t, nil)
	a, b := ts.keys["alice"], ts.keys["bob"]
	// As bob, offer bob's key but sign with alice's: the signature does not verify.
	_, err := ts.dial(dialOpts{user: "bob", signers: []ssh.Signer{swapped{a, b.PublicKey()}}, kbd: answers([]string{password}, []string{ts.code(0)})})
	if err == nil {
		t.Fatal("bob's session from alice's signature")
	}
	// As alice, query bob's key first, then sign with alice's: the session is alice's.
	c, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{swapped{a, b.PublicKey()}, a}, kbd: answers([]string{password}, []string{ts.code(0)})})
	if err != nil {
		t.Fatalf("alice with her own key after a swapped query: %v", err)
	}
	defer c.Close()
	if got := whoami(t, c); !strings.Contains(got, "Hello alice.") || strings.Contains(got, "bob") {
		t.Fatalf("session is not alice's: %q", got)
	}
	if n := ts.audit.count("login.success", "ok"); n != 1 {
		t.Fatalf("%d login.success events, want 1", n)
	}
}

// Issue 5 #2: the second factor cannot be skipped.
func TestSecondFactorRequired(t *testing.T) {
	ts := newTestServer(t, nil)
	a := ts.keys["alice"]
	for name, methods := range map[string][]ssh.AuthMethod{
		"publickey only":            {ssh.PublicKeys(a)},
		"publickey then password":   {ssh.PublicKeys(a), ssh.Password(password)},
		"password only":             {ssh.Password(password)},
		"keyboard-interactive only": {ssh.KeyboardInteractive(answers([]string{password}, []string{ts.code(0)}))},
	} {
		cc := &ssh.ClientConfig{User: "alice", Auth: methods, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second}
		if c, err := ssh.Dial("tcp", ts.addr, cc); err == nil {
			c.Close()
			t.Errorf("%s: logged in", name)
		}
	}
	if n := ts.dials.Load(); n != 0 {
		t.Fatalf("the backend was dialed %d times without a full login", n)
	}
	if n := ts.audit.count("login.success", ""); n != 0 {
		t.Fatalf("login.success recorded %d times", n)
	}
}

// Issue 5 #3: everything but the jump and the target listing is refused.
func TestOnlyJumpsAndListing(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, typ := range []string{"x11", "auth-agent@openssh.com", "direct-streamlocal@openssh.com", "forwarded-tcpip", "tun@openssh.com"} {
		if ch, _, err := c.OpenChannel(typ, nil); err == nil {
			ch.Close()
			t.Errorf("channel %s opened", typ)
		} else if oce := new(ssh.OpenChannelError); !errors.As(err, &oce) || oce.Reason != ssh.UnknownChannelType {
			t.Errorf("channel %s: %v, want unknown channel type", typ, err)
		}
	}
	for _, dest := range []string{"pve2:22", "127.0.0.1:22", "pve1:8006", "example.org:443"} {
		_, err := c.Dial("tcp", dest)
		if oce := new(ssh.OpenChannelError); !errors.As(err, &oce) || oce.Reason != ssh.Prohibited || !strings.Contains(oce.Message, "no target") {
			t.Errorf("jump to %s: %v, want administratively prohibited with a reason", dest, err)
		}
	}
	if ok, _, _ := c.SendRequest("tcpip-forward", true, ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 0})); ok {
		t.Error("tcpip-forward accepted")
	}
	for _, req := range []string{"subsystem", "auth-agent-req@openssh.com", "x11-req", "env"} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte(nil)
		if req == "subsystem" {
			payload = ssh.Marshal(struct{ Name string }{"sftp"})
		}
		if ok, _ := s.SendRequest(req, true, payload); ok {
			t.Errorf("session request %s accepted", req)
		}
		s.Close()
	}
	s, _ := c.NewSession()
	out, err := s.CombinedOutput("id")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 1 || !strings.Contains(string(out), "runs no commands") || strings.Contains(string(out), "uid=") {
		t.Errorf("exec id: %v %q", err, out)
	}
	if n := ts.dials.Load(); n != 0 {
		t.Fatalf("the backend was dialed %d times for refused requests", n)
	}
	if n := ts.audit.count("jump.refused", "fail"); n != 4 {
		t.Fatalf("%d jump.refused events, want 4", n)
	}
}

// Issue 5 #5: wrong codes across connections lock the account and penalise the source.
func TestBruteForce(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.PenaltyFreeFails = 4
		c.Limits.PenaltyBase = time.Minute
		c.Auth.Max2FAAttempts = 1
	})
	banner := &strings.Builder{}
	for i := 0; i < 3; i++ {
		if _, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{ts.keys["alice"]}, kbd: answers([]string{password}, []string{fmt.Sprintf("%06d", i)})}); err == nil {
			t.Fatal("wrong code accepted")
		}
	}
	// Locked: the right code is refused, with a message.
	_, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{ts.keys["alice"]}, kbd: answers([]string{password}, []string{ts.code(0)}), banner: banner})
	if err == nil {
		t.Fatal("locked account logged in with the right code")
	}
	if !strings.Contains(banner.String(), "locked") || !strings.Contains(banner.String(), "administrator") {
		t.Fatalf("locked banner: %q", banner.String())
	}
	if ts.audit.count("lockout", "fail") != 1 || ts.audit.count("login.failure", "fail") != 4 {
		t.Fatalf("audit: %d lockout, %d login.failure", ts.audit.count("lockout", "fail"), ts.audit.count("login.failure", "fail"))
	}
	// The fifth failure from this source is penalised: refused before the SSH banner.
	ts.dial(dialOpts{user: "bob", signers: []ssh.Signer{ts.keys["bob"]}, kbd: answers([]string{"wrong"}, []string{"000000"})})
	// The server records the failure as its side of the connection ends.
	for end := time.Now().Add(3 * time.Second); ts.srv.limiter.Load().Penalised() == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(raw)
	raw.Close()
	if len(b) != 0 || err != nil {
		t.Fatalf("penalised source got %q, %v; want the connection closed at once", b, err)
	}
	if n := ts.audit.count("source.penalty", "fail"); n != 1 {
		t.Fatalf("%d source.penalty events, want 1", n)
	}
	// Bob was not locked by alice's failures.
	if u, _ := ts.store.User(context.Background(), "bob"); u.Locked(t0) {
		t.Fatal("bob locked by someone else's failures")
	}
}

// Issue 5 #6: malformed answers are failures, never panics.
func TestMalformedAnswers(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Auth.LockoutAfter = 100 })
	huge := strings.Repeat("7", 1<<20)
	cases := map[string]ssh.KeyboardInteractiveChallenge{
		"zero answers":  func(string, string, []string, []bool) ([]string, error) { return []string{}, nil },
		"two answers":   func(string, string, []string, []bool) ([]string, error) { return []string{password, password}, nil },
		"1 MiB":         answers([]string{huge}, []string{huge}),
		"NUL":           answers([]string{password + "\x00"}, []string{"12\x0034"}),
		"arabic digits": answers([]string{password}, []string{"١٢٣٤٥٦"}),
		"5 digits":      answers([]string{password}, []string{ts.code(0)[:5]}),
		"7 digits":      answers([]string{password}, []string{ts.code(0) + "1"}),
	}
	for name, kbd := range cases {
		if c, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{ts.keys["alice"]}, kbd: kbd}); err == nil {
			c.Close()
			t.Errorf("%s: logged in", name)
		}
	}
	// Wrong answer counts and 1 MiB packets are refused by the SSH layer,
	// which closes the connection before kbdint sees an answer; the four
	// well-formed wrong answers each count as a failed login.
	if u, _ := ts.store.User(context.Background(), "alice"); u.Failures != 4 {
		t.Errorf("failures counted: %d, want 4", u.Failures)
	}
	// The server is still fine.
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatalf("login after malformed answers: %v", err)
	}
	c.Close()
}

// Issue 4: if the audit log cannot be written, logins are refused with a message.
func TestAuditFailureFailsClosed(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.audit.fail.Store(true)
	banner := &strings.Builder{}
	_, err := ts.dial(dialOpts{user: "alice", signers: []ssh.Signer{ts.keys["alice"]}, kbd: answers([]string{password}, []string{ts.code(0)}), banner: banner})
	if err == nil {
		t.Fatal("logged in while the audit log is down")
	}
	if !strings.Contains(banner.String(), "audit log cannot be written") {
		t.Fatalf("banner: %q", banner.String())
	}
	ts.audit.fail.Store(false)
	c, err := ts.login("alice", 1)
	if err != nil {
		t.Fatalf("login after the audit log recovered: %v", err)
	}
	defer c.Close()
	// A jump whose open record cannot be written does not happen.
	ts.audit.fail.Store(true)
	if _, err := c.Dial("tcp", "pve1:22"); err == nil {
		t.Fatal("jump opened while the audit log is down")
	}
	ts.audit.fail.Store(false)
}

// Issue 5 #7 (in-process part): silent connections are closed at the grace
// deadline and goroutines return to baseline; a real login works meanwhile.
func TestGraceDeadlineFreesSilentConnections(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		// Long enough for the real login below on a loaded 2-core CI
		// machine (700 ms cut it there), short against the read deadline.
		c.Auth.LoginGraceTime = 3 * time.Second
		c.Limits.MaxStartups = "1000:30:1000"
		c.Limits.PerSourceMax = 1000
	})
	base := runtime.NumGoroutine()
	var conns []net.Conn
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			fmt.Fprint(c, "SSH-2.0-stall\r\n") // stall after the banner
		}
		conns = append(conns, c)
	}
	start := time.Now()
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatalf("login during the flood: %v", err)
	}
	c.Close()
	t.Logf("login with 200 silent connections open: %v", time.Since(start))
	for _, c := range conns {
		c.SetReadDeadline(start.Add(15 * time.Second))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a silent connection outlived the grace deadline by 12 s")
		}
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+5 {
		t.Fatalf("goroutines: %d, baseline %d", g, base)
	}
}

// Shutdown: new connections are refused at once, open jumps keep working for
// shutdown_grace, then close with the reason recorded.
func TestShutdownDrainsJumps(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.ShutdownGrace = 3 * time.Second })
	c, err := ts.login("alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	jump, err := c.Dial("tcp", "pve1:22")
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	// The listener closes: new connections are refused (polled, not slept).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 5s into the shutdown")
		}
	}
	fmt.Fprint(jump, "still")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(jump, buf); err != nil || string(buf) != "still" {
		t.Fatalf("open jump during the grace: %q, %v", buf, err)
	}
	select {
	case <-ts.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the shutdown grace")
	}
	ts.audit.mu.Lock()
	defer ts.audit.mu.Unlock()
	for _, e := range ts.audit.events {
		if e.Type == "jump.close" {
			if !strings.Contains(e.Fields["reason"], ErrShutdown.Error()) {
				t.Fatalf("jump.close reason %q", e.Fields["reason"])
			}
			return
		}
	}
	t.Fatal("no jump.close recorded")
}
