// Login rate, p99 login time and database round trips per login with the
// state on SQLite, on PostgreSQL, and on PostgreSQL shared by two replicas
// (issue 10). Default settings (argon2id cost, windows, lockout, a real
// fsynced audit log per replica); 8 parallel x/crypto clients doing full
// logins (key exchange, publickey, password, TOTP code).
//
//	go test ./bench -run '^$' -bench LoginState -benchtime 200x
package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/gateway"
	"bastion/kbdint"
	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
	"bastion/store/pgtest"
)

// roundTrips counts PostgreSQL statements (each one round trip once pgx has
// the statement prepared; BEGIN and COMMIT are statements too).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func BenchmarkLoginState(b *testing.B) {
	pg := pgtest.Start(b) // one cluster for the whole run: sub-benchmarks run more than once
	for _, mode := range []struct {
		name     string
		replicas int
	}{{"sqlite", 1}, {"postgres", 1}, {"postgres_2_replicas", 2}} {
		b.Run(mode.name, func(b *testing.B) {
			state := filepath.Join(b.TempDir(), "bastion.db")
			cluster := pg
			if mode.name == "sqlite" {
				cluster = nil
			} else {
				state = pg.NewDatabase(b)
			}
			benchLogins(b, cluster, state, mode.replicas)
		})
	}
}

const (
	benchUsers   = 64
	benchClients = 8
	benchPass    = "correct horse battery staple"
	benchWindow  = 10 // steps either side: 21 logins per user without waiting for the clock
)

func benchLogins(b *testing.B, pg *pgtest.Cluster, state string, replicas int) {
	dir := b.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.Exempt = []string{"127.0.0.1/32"} // the load comes from one address
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	rt := &roundTrips{}
	opts := store.Options{State: state, Key: filepath.Join(dir, "state.key"), Tracer: rt}
	if pg != nil {
		opts.PasswordFile = pg.PasswordFile(b, dir)
	}
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(hostPriv)
	_, userPriv, _ := ed25519.GenerateKey(rand.Reader)
	userKey, _ := ssh.NewSignerFromKey(userPriv)
	params := oath.Params{Kind: oath.KindTOTP, Secret: []byte("12345678901234567890"), Digits: 6, Period: 30, Window: benchWindow}

	var addrs []string
	for r := range replicas {
		st, err := store.OpenWith(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if r == 0 {
			addUsers(b, st, cfg, userKey, params)
		}
		alog, err := audit.Open(filepath.Join(dir, fmt.Sprintf("audit%d.log", r)), audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { alog.Close() })
		var srv *gateway.Server
		ver := &kbdint.Verifier{Store: st, Now: time.Now, Policy: func() kbdint.Policy {
			return kbdint.Policy{LockoutAfter: cfg.Auth.LockoutAfter, LockoutTime: cfg.Auth.LockoutTime}
		}}
		c := cfg
		srv = gateway.New(gateway.Options{Config: &c, Store: st, Audit: alog, HostKeys: []ssh.Signer{hostKey}, Verifier: ver,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx, ln); close(done) }()
		b.Cleanup(func() { cancel(); <-done })
		addrs = append(addrs, ln.Addr().String())
	}

	users := make([]struct {
		sync.Mutex
		next int64
	}, benchUsers)
	first := oath.Step(params, time.Now()) - benchWindow + 1
	for i := range users {
		users[i].next = first
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		next      atomic.Int64
	)
	login := func(i int) error {
		u := &users[i%benchUsers]
		u.Lock()
		defer u.Unlock()
		code := oath.Code(params, uint64(u.next))
		u.next++
		answers := [][]string{{benchPass}, {code}}
		kbd := func(_, _ string, q []string, _ []bool) ([]string, error) {
			if len(q) == 0 {
				return nil, nil
			}
			a := answers[0]
			answers = answers[1:]
			return a, nil
		}
		cc := &ssh.ClientConfig{User: fmt.Sprintf("lb%d", i%benchUsers), HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second,
			Auth: []ssh.AuthMethod{ssh.PublicKeys(userKey), ssh.KeyboardInteractive(kbd)}}
		c, err := ssh.Dial("tcp", addrs[i%len(addrs)], cc)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if b.N > benchUsers*(2*benchWindow) {
		b.Fatalf("b.N = %d: at most %d logins fit in the TOTP windows; use -benchtime %dx", b.N, benchUsers*2*benchWindow, benchUsers*2*benchWindow)
	}
	rt.n.Store(0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t := time.Now()
				if err := login(i); err != nil {
					failed.Add(1)
					b.Logf("login %d: %v", i, err)
					continue
				}
				mu.Lock()
				latencies = append(latencies, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d logins failed", failed.Load(), b.N)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99_ms")
	if pg != nil {
		b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/login")
	}
}

func addUsers(b *testing.B, st *store.Store, cfg config.Config, key ssh.Signer, p oath.Params) {
	hash, err := passwd.Hash(benchPass, passwd.Params{MemoryKiB: cfg.Argon2.MemoryKiB, Time: cfg.Argon2.Time, Threads: cfg.Argon2.Threads})
	if err != nil {
		b.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	ctx := context.Background()
	for i := range benchUsers {
		name := fmt.Sprintf("lb%d", i)
		if err := st.AddUser(ctx, store.NewUser{Name: name, PasswordHash: hash, Groups: []string{"ops"}, Keys: []string{line}}, time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := st.SetOTP(ctx, name, store.OTP{Params: p}, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}
