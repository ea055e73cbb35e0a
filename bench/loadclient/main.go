// Command loadclient drives the benchmark's many-connection figures: it adds
// load users to a bastion state file, runs a TCP echo target, holds many idle
// jump sessions open, and measures the 2FA login rate. It is a benchmark
// tool only: it talks to 127.0.0.1 and never decides anything for the server.
//
//	loadclient setup  -state S -state-key K -otp-file GA -pubkey F -password P -prefix lc -n 100
//	loadclient echo   -listen 127.0.0.1:PORT
//	loadclient hold   -addr A -prefix lc -users 100 -sessions 8000 -target 127.0.0.1:PORT -status FILE ...
//	loadclient logins -addr A -prefix lr -users 64 -clients 8 -duration 15s ...
//	... | loadclient sink -cgroup /sys/fs/cgroup/.../bastion
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadclient setup|echo|hold|logins|sink [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(os.Args[2:])
	case "echo":
		err = echo(os.Args[2:])
	case "hold":
		err = hold(os.Args[2:])
	case "logins":
		err = logins(os.Args[2:])
	case "sink":
		err = sink(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadclient:", err)
		os.Exit(1)
	}
}

func readOTP(path string) (oath.Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return oath.Params{}, err
	}
	g, err := oath.ParseGoogleAuthenticator(data)
	if err != nil {
		return oath.Params{}, fmt.Errorf("%s: %w", path, err)
	}
	return g.Params(), nil
}

// setup adds users PREFIX0..PREFIX(n-1) with one password hash, one key and
// one TOTP secret, straight into the state file (the server must not be running).
func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	statePath := fs.String("state", "", "state file")
	stateKey := fs.String("state-key", "", "state key file")
	otpFile := fs.String("otp-file", "", ".google_authenticator file with the shared secret")
	pubkey := fs.String("pubkey", "", "authorized_keys line file")
	password := fs.String("password", "", "password")
	prefix := fs.String("prefix", "lc", "user name prefix")
	n := fs.Int("n", 100, "number of users")
	window := fs.Int("window", 10, "TOTP steps accepted either side of now")
	group := fs.String("group", "ops", "group")
	mem := fs.Uint("argon2-memory-kib", 19456, "argon2id memory (KiB)")
	tm := fs.Uint("argon2-time", 2, "argon2id passes")
	th := fs.Uint("argon2-threads", 1, "argon2id threads")
	fs.Parse(args)
	p, err := readOTP(*otpFile)
	if err != nil {
		return err
	}
	p.Window = *window
	key, err := os.ReadFile(*pubkey)
	if err != nil {
		return err
	}
	hash, err := passwd.Hash(*password, passwd.Params{MemoryKiB: uint32(*mem), Time: uint32(*tm), Threads: uint8(*th)})
	if err != nil {
		return err
	}
	st, err := store.Open(*statePath, *stateKey)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range *n {
		name := fmt.Sprintf("%s%d", *prefix, i)
		err := st.AddUser(ctx, store.NewUser{Name: name, PasswordHash: hash, Groups: []string{*group},
			Keys: []string{strings.TrimSpace(string(key))}, EnrollUntil: now.Add(time.Hour)}, now)
		if err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("add %s: %w", name, err)
		}
		if err := st.SetOTP(ctx, name, store.OTP{Params: p}, nil, false); err != nil {
			return fmt.Errorf("otp %s: %w", name, err)
		}
	}
	fmt.Printf("added %d users %s0..%s%d\n", *n, *prefix, *prefix, *n-1)
	return nil
}

// echo runs a TCP echo server until killed.
func echo(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if strings.Contains(err.Error(), "too many open files") {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go func() {
			defer c.Close()
			// Not io.Copy(c, c): *net.TCPConn's ReadFrom splices through a
			// pipe pair that each idle connection then holds, so every
			// session cost 3 fds here and the target hit EMFILE at ~6,660
			// sessions under a 20,000 limit (the bastion's dials still
			// completed into the listen backlog, so the jumps looked hung).
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// client holds what every login needs.
type client struct {
	addr     string
	password string
	signer   ssh.Signer
	otp      oath.Params
	reuse    bool // anchor: pam_google_authenticator accepts the current code again
	users    []*loadUser
}

type loadUser struct {
	name string
	mu   sync.Mutex
	next int64 // next TOTP step to use (bastion refuses replays per user)
}

func clientFlags(fs *flag.FlagSet) func() (*client, error) {
	addr := fs.String("addr", "", "jump server address")
	prefix := fs.String("prefix", "lc", "user name prefix (or the user name with -users 0)")
	users := fs.Int("users", 1, "users PREFIX0..PREFIX(users-1); 0 means the single user PREFIX")
	password := fs.String("password", "", "password")
	identity := fs.String("identity", "", "private key file")
	otpFile := fs.String("otp-file", "", ".google_authenticator file with the secret")
	window := fs.Int("window", 10, "server's TOTP window (steps either side)")
	reuse := fs.Bool("reuse", false, "send the current code every time (server allows reuse)")
	return func() (*client, error) {
		keyData, err := os.ReadFile(*identity)
		if err != nil {
			return nil, err
		}
		signer, err := ssh.ParsePrivateKey(keyData)
		if err != nil {
			return nil, err
		}
		p, err := readOTP(*otpFile)
		if err != nil {
			return nil, err
		}
		p.Window = *window
		c := &client{addr: *addr, password: *password, signer: signer, otp: p, reuse: *reuse}
		if *users == 0 {
			c.users = []*loadUser{{name: *prefix}}
		}
		for i := range *users {
			c.users = append(c.users, &loadUser{name: fmt.Sprintf("%s%d", *prefix, i)})
		}
		return c, nil
	}
}

// login opens one authenticated connection as the i-th user (round robin).
// For the bastion each user's logins are serialized and use successive TOTP
// steps inside the window, each once.
func (c *client) login(ctx context.Context, i int) (*ssh.Client, error) {
	u := c.users[i%len(c.users)]
	var step int64
	if c.reuse {
		step = oath.Step(c.otp, time.Now())
	} else {
		u.mu.Lock()
		defer u.mu.Unlock()
		for {
			cur := oath.Step(c.otp, time.Now())
			step = max(u.next, cur-int64(c.otp.Window)+1)
			if step <= cur+int64(c.otp.Window)-1 {
				break
			}
			select { // the user's window is used up: wait for the next step
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	code := oath.Code(c.otp, uint64(step))
	cfg := &ssh.ClientConfig{
		User: u.name,
		Auth: []ssh.AuthMethod{
			ssh.PublicKeys(c.signer),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for j, q := range questions {
					switch {
					case strings.Contains(strings.ToLower(q), "password"):
						answers[j] = c.password
					case strings.Contains(strings.ToLower(q), "code"):
						answers[j] = code
					}
				}
				return answers, nil
			}),
		},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         60 * time.Second,
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(120 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(nc, c.addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	u.next = step + 1
	return ssh.NewClient(sc, chans, reqs), nil
}

// hold opens -sessions idle jump sessions (each one connection with one
// direct-tcpip channel to -target, checked with one echo), reports how many
// it reached in -status, and keeps them open until SIGTERM or -max-hold.
// While ramping it prints a progress line every -progress-every to stderr
// (sessions held, workers in each phase, failures) and writes the session
// count to -progress, so a stall shows where the workers wait.
func hold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	mk := clientFlags(fs)
	sessions := fs.Int("sessions", 100, "sessions to open")
	conc := fs.Int("concurrency", 32, "logins in flight")
	target := fs.String("target", "", "host:port of the echo target")
	status := fs.String("status", "", "file to write the result line to")
	progress := fs.String("progress", "", "file rewritten with the current progress line while ramping")
	every := fs.Duration("progress-every", 10*time.Second, "progress line interval")
	maxFail := fs.Int("max-failures", 50, "stop after this many failed sessions")
	openTimeout := fs.Duration("open-timeout", 30*time.Second, "give up on a direct-tcpip open, and then on its echo, after this long (closing the connection)")
	rampLimit := fs.Duration("ramp-timeout", 8*time.Minute, "stop opening after this long")
	maxHold := fs.Duration("max-hold", 15*time.Minute, "exit after holding this long")
	fs.Parse(args)
	c, err := mk()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *rampLimit)
	defer cancel()
	var (
		mu       sync.Mutex
		clients  []*ssh.Client
		channels []net.Conn
		failed   atomic.Int64
		lastErr  atomic.Value
		next     atomic.Int64
		wg       sync.WaitGroup
		held     atomic.Int64
		inLogin  atomic.Int64
		inOpen   atomic.Int64
		inEcho   atomic.Int64
	)
	start := time.Now()
	progLine := func() string {
		le, _ := lastErr.Load().(string)
		return fmt.Sprintf("t=%.0fs sessions=%d in_login=%d in_open=%d in_echo=%d failed=%d last_error=%q\n",
			time.Since(start).Seconds(), held.Load(), inLogin.Load(), inOpen.Load(), inEcho.Load(), failed.Load(), le)
	}
	rampDone := make(chan struct{})
	go func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-rampDone:
				return
			case <-t.C:
				line := progLine()
				fmt.Fprint(os.Stderr, "progress ", line)
				if *progress != "" {
					writeAtomic(*progress, line)
				}
			}
		}
	}()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && failed.Load() < int64(*maxFail) {
				i := int(next.Add(1) - 1)
				if i >= *sessions {
					return
				}
				inLogin.Add(1)
				cl, err := c.login(ctx, i)
				inLogin.Add(-1)
				if err == nil {
					var ch net.Conn
					inOpen.Add(1)
					ch, err = openChannel(cl, *target, *openTimeout)
					inOpen.Add(-1)
					if err == nil {
						inEcho.Add(1)
						err = echoCheck(cl, ch, *openTimeout)
						inEcho.Add(-1)
					}
					if err != nil {
						cl.Close()
					} else {
						mu.Lock()
						clients = append(clients, cl)
						channels = append(channels, ch)
						mu.Unlock()
						held.Add(1)
					}
				} else {
					err = fmt.Errorf("login: %w", err)
				}
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}()
	}
	wg.Wait()
	close(rampDone)
	ramp := time.Since(start)
	mu.Lock()
	n := len(clients)
	mu.Unlock()
	le, _ := lastErr.Load().(string)
	line := fmt.Sprintf("sessions=%d failed=%d ramp_seconds=%.1f last_error=%q\n", n, failed.Load(), ramp.Seconds(), le)
	fmt.Print(line)
	if *status != "" {
		if err := writeAtomic(*status, line); err != nil {
			return err
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(*maxHold):
	}
	for _, cl := range clients {
		cl.Close()
	}
	return nil
}

// openChannel opens a direct-tcpip channel to target, giving up after d:
// x/crypto's Client.Dial has no deadline and waits forever for a server
// that never answers the open, so on timeout the whole connection is closed
// (which also ends the pending Dial).
func openChannel(cl *ssh.Client, target string, d time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := cl.Dial("tcp", target)
		done <- result{ch, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("direct-tcpip open: %w", r.err)
		}
		return r.c, nil
	case <-t.C:
		cl.Close()
		return nil, fmt.Errorf("direct-tcpip open to %s not answered within %s", target, d)
	}
}

// echoCheck sends one "ping" through the jump and waits for it to come back,
// giving up after d. x/crypto's channel net.Conn does not support deadlines
// (SetDeadline returns an error and Read blocks on), so on timeout the whole
// connection is closed, which ends the pending Read.
func echoCheck(cl *ssh.Client, ch net.Conn, d time.Duration) error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4)
		_, err := ch.Write([]byte("ping"))
		if err == nil {
			_, err = io.ReadFull(ch, buf)
		}
		if err == nil && string(buf) != "ping" {
			err = fmt.Errorf("got %q back", buf)
		}
		done <- err
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("echo through the jump: %w", err)
		}
		return nil
	case <-t.C:
		cl.Close()
		return fmt.Errorf("echo through the jump not answered within %s (channel open had succeeded)", d)
	}
}

func writeAtomic(path, line string) error {
	if err := os.WriteFile(path+".tmp", []byte(line), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// logins runs -clients parallel loops of full 2FA logins (connect, key
// exchange, publickey, password + code, disconnect) for -duration.
func logins(args []string) error {
	fs := flag.NewFlagSet("logins", flag.ExitOnError)
	mk := clientFlags(fs)
	clients := fs.Int("clients", 8, "parallel clients")
	dur := fs.Duration("duration", 15*time.Second, "how long to run")
	fs.Parse(args)
	c, err := mk()
	if err != nil {
		return err
	}
	if !c.reuse && len(c.users)%*clients != 0 {
		return fmt.Errorf("-users %d must be a multiple of -clients %d", len(c.users), *clients)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		failed  int
		lastErr string
		wg      sync.WaitGroup
	)
	start := time.Now()
	for w := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// worker w owns users w, w+clients, ...: no two workers share a user.
			for k := 0; ctx.Err() == nil; k++ {
				i := w + (*clients)*k
				t0 := time.Now()
				cl, err := c.login(context.Background(), i)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failed++
					lastErr = err.Error()
				} else if time.Since(start) <= *dur {
					lat = append(lat, d)
				}
				mu.Unlock()
				if cl != nil {
					cl.Close()
				}
				if err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := min(time.Since(start), *dur)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))].Seconds() * 1000
	}
	fmt.Printf("logins=%d failed=%d seconds=%.2f rate=%.2f p50_ms=%.1f p99_ms=%.1f last_error=%q\n",
		len(lat), failed, elapsed.Seconds(), float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99), lastErr)
	return nil
}

// sink reads stdin to EOF and prints how many bytes came, the seconds from
// the first byte to EOF, and the CPU microseconds the jump server's cgroup
// used over the same span: the data path alone, without the login before it.
func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	cgroup := fs.String("cgroup", "", "cgroup directory of the jump server (v2 cpu.stat or v1 cpuacct.usage)")
	fs.Parse(args)
	buf := make([]byte, 256<<10)
	n, err := os.Stdin.Read(buf)
	if n == 0 {
		return fmt.Errorf("no data: %v", err)
	}
	t0 := time.Now()
	c0, err := cgroupUsec(*cgroup)
	if err != nil {
		return err
	}
	total := int64(n)
	for {
		n, err := os.Stdin.Read(buf)
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	secs := time.Since(t0).Seconds()
	c1, err := cgroupUsec(*cgroup)
	if err != nil {
		return err
	}
	fmt.Printf("bytes=%d seconds=%.3f cpu_usec=%d\n", total, secs, c1-c0)
	return nil
}

// cgroupUsec is the CPU time, in microseconds, used by everything that ran in
// the cgroup dir: usage_usec from a v2 cpu.stat, or a v1 cpuacct.usage (ns).
func cgroupUsec(dir string) (int64, error) {
	if data, err := os.ReadFile(dir + "/cpu.stat"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			var v int64
			if _, err := fmt.Sscanf(line, "usage_usec %d", &v); err == nil {
				return v, nil
			}
		}
		return 0, fmt.Errorf("%s/cpu.stat: no usage_usec", dir)
	}
	data, err := os.ReadFile(dir + "/cpuacct.usage")
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	var ns int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &ns); err != nil {
		return 0, fmt.Errorf("%s/cpuacct.usage: %w", dir, err)
	}
	return ns / 1000, nil
}
