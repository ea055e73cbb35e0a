// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb and
// pg_ctl in a temporary directory, as an unprivileged user (nobody when the
// tests run as root), listening on its own port of 127.0.0.1 only, with a
// password (scram-sha-256) so the password paths are exercised too.
//
// When the PostgreSQL binaries are missing the test is skipped with a clear
// message, or fails when BASTION_E2E_REQUIRED is set (as in CI).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Password is the superuser's password in every test cluster.
const Password = "pgtest-Secret-7"

// User is the cluster's superuser.
const User = "bastion"

// Cluster is one running (or stopped) PostgreSQL server.
type Cluster struct {
	Dir  string // holds data/, the log and the password file
	Port int
	bin  string
	cred []string // setpriv prefix when running as root
	dbs  atomic.Int64
}

// binDir finds the newest /usr/lib/postgresql/*/bin with initdb.
func binDir() string {
	if d := os.Getenv("BASTION_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	if len(dirs) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		return ""
	}
	return filepath.Dir(dirs[0])
}

// Start creates and starts a cluster, stopped and removed when tb ends.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := New()
	if err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") == "" && strings.Contains(err.Error(), "binaries not found") {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(c.Remove)
	return c
}

// New creates and starts a cluster; the caller calls Remove.
func New() (*Cluster, error) {
	bin := binDir()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL binaries not found (looked in /usr/lib/postgresql/*/bin and PATH; install the postgresql package or set BASTION_PG_BIN)")
	}
	dir, err := os.MkdirTemp("", "bastion-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the server as nobody.
		c.cred = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			return nil, err
		}
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if c.cred != nil {
		os.Chown(pwfile, 65534, 65534)
	}
	if out, err := c.run("initdb", "-D", filepath.Join(dir, "data"), "-U", User, "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		c.Remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := c.Start(); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) run(tool string, args ...string) ([]byte, error) {
	argv := append(append([]string{}, c.cred...), append([]string{filepath.Join(c.bin, tool)}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	return cmd.CombinedOutput()
}

// Start starts the server and waits until it accepts connections. The first
// start picks a free port (retrying if another process took it meanwhile);
// a restart keeps it, since clients hold the URL.
func (c *Cluster) Start() error {
	fixed := c.Port != 0
	var err error
	for range 5 {
		if !fixed {
			if c.Port, err = freePort(); err != nil {
				return err
			}
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.Port)
		out, runErr := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"), "-o", opts, "-w", "-t", "60", "start")
		if runErr == nil {
			return nil
		}
		err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", runErr, out, c.tail())
		if fixed {
			break
		}
	}
	return err
}

// Stop stops the server fast (open connections are cut).
func (c *Cluster) Stop() error {
	out, err := c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Remove stops the server and deletes its directory.
func (c *Cluster) Remove() {
	c.run("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "-t", "30", "stop")
	os.RemoveAll(c.Dir)
}

func (c *Cluster) tail() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// URL is the password-less URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, c.Port, db)
}

// PasswordFile writes the password to a private file in dir and returns its path.
func (c *Cluster) PasswordFile(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "pg.pass")
	if err := os.WriteFile(p, []byte(Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	db := c.admin(tb)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return c.URL(name)
}

// admin connects to the postgres database as the superuser.
func (c *Cluster) admin(tb testing.TB) *sql.DB {
	tb.Helper()
	cfg, err := pgx.ParseConfig(c.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Password = Password
	return stdlib.OpenDB(*cfg)
}

// Open connects to the database at url as the superuser, for checks a test makes directly.
func (c *Cluster) Open(tb testing.TB, url string) *sql.DB {
	tb.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Password = Password
	db := stdlib.OpenDB(*cfg)
	tb.Cleanup(func() { db.Close() })
	return db
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Freeze stops (SIGSTOP) the server and its backends, by process id: the
// port still accepts connections but nothing answers, like a hung database.
// Thaw resumes them.
func (c *Cluster) Freeze() error { return c.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (c *Cluster) Thaw() error { return c.signalAll(syscall.SIGCONT) }

func (c *Cluster) signalAll(sig syscall.Signal) error {
	raw, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{pid}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if child, err := strconv.Atoi(filepath.Base(filepath.Dir(st))); err == nil {
				pids = append(pids, child)
			}
		}
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && p == pid {
			return err
		}
	}
	return nil
}
