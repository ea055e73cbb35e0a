// Command bastion is the SSH jump gateway with two-factor authentication:
// `bastion serve` runs it, the other verbs manage users and read the audit log.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"bastion/config"
)

const usage = `usage: bastion [-c FILE] VERB ...

  serve                         run the SSH jump gateway
  config check                  validate the config; print it with absolute paths, secrets redacted
  version                       print the version and commit
  user add NAME --key FILE [--key FILE] [--group G] [--enroll-token]
                                add a user (password: one line on stdin)
  user passwd NAME              set a password (one line on stdin)
  user list                     list users with their 2FA state
  user show NAME                show one user
  user del NAME                 delete a user (their open connections end too)
  user lock NAME                lock a user until unlocked (their open connections end too)
  user unlock NAME              clear a lockout
  user reset-otp NAME [--enroll-token]
                                back to pending: a new enrollment window
  user import-otp NAME FILE [--ignore-rate-limit]
                                import a ~/.google_authenticator file
  state migrate                 bring the state's schema up to date (serve does it at start too)
  state copy --from FILE.db --to postgres://USER@HOST/DB [--force] [--to-password-file FILE]
                                copy every user to another state (same state_key); refuses a
                                target with users unless --force
  ssh-config NAME --host HOST [--port N] [--alias NAME]
                                print ~/.ssh/config entries for NAME
  audit [--user U] [--target T] [--source S] [--type T] [--since D] [--until D]
        [--failed] [--json] [--follow] [--local]
                                review the audit log (PostgreSQL state: every
                                replica's, merged; --local: this host's file)
  audit verify [--local]        check the audit log's hash chain (every replica's)
  sessions [--user U] [--target T] [--since D] [--grep TEXT]
                                list recorded sessions
  replay ID [--speed N] [--idle-limit D] [--follow] [--text]
                                play a recorded session (--text: plain transcript)
  ca show                       print the user CA's public key and the backend sshd setup
  target trust NAME [--fingerprint SHA256:...]
                                pin a target's host key (asks to confirm without --fingerprint)

-c FILE defaults to ./config.toml, else ./config.toml.example, else
/etc/bastion/config.toml (the package's). Relative paths
in it resolve against the file's directory, not the working directory.
`

// Set at build time: go build -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// exitError carries an exit status and a message for the user.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "bastion:", ee.msg)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "bastion:", err)
	os.Exit(1)
}

// env is what every verb gets.
type env struct {
	cfgPath string
	cfg     *config.Config
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	explicit, rest, err := takeConfigFlag(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(rest) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	if rest[0] == "version" {
		fmt.Fprintf(stdout, "bastion %s (commit %s)\n", version, commit)
		return nil
	}
	path, err := config.Find(explicit)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if rest[0] != "config" {
		if err := ownerCheck(cfg, os.Geteuid()); err != nil {
			return err
		}
	}
	e := &env{cfgPath: path, cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	switch rest[0] {
	case "serve":
		return serve(e)
	case "config":
		return configCmd(e, rest[1:])
	case "user":
		return userCmd(e, rest[1:])
	case "state":
		return stateCmd(e, rest[1:])
	case "ssh-config":
		return sshConfig(e, rest[1:])
	case "audit":
		return auditCmd(e, rest[1:])
	case "ca":
		return caCmd(e, rest[1:])
	case "target":
		return targetCmd(e, rest[1:])
	case "sessions":
		return sessionsCmd(e, rest[1:])
	case "replay":
		return replayCmd(e, rest[1:])
	}
	return &exitError{code: 2, msg: fmt.Sprintf("unknown verb %q\n%s", rest[0], usage)}
}

// takeConfigFlag removes -c FILE / --config FILE from anywhere in args.
func takeConfigFlag(args []string) (string, []string, error) {
	var path string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c" || a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return "", nil, &exitError{code: 2, msg: a + " needs a file"}
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "-c=") || strings.HasPrefix(a, "--config="):
			path = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}

// parseInterleaved parses flags that may come before or after positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &exitError{code: 2, msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// listFlag collects a repeatable flag, one value per use: a comma is part
// of the value (a file name may hold one), so that `--group 'ops,dba'` is
// refused by the group check instead of silently becoming two groups.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
