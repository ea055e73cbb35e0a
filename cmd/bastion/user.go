// `bastion user ...`: the operator's user management.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"bastion/audit"
	"bastion/authkeys"
	"bastion/oath"
	"bastion/passwd"
	"bastion/store"
	"bastion/untrusted"
)

func userCmd(e *env, args []string) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "user: want add, passwd, list, show, del, lock, unlock, reset-otp or import-otp"}
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	var keys, groups listFlag
	var token, ignoreRateLimit bool
	switch verb {
	case "add":
		fs.Var(&keys, "key", "public key file (repeatable)")
		fs.Var(&groups, "group", "group (repeatable)")
		fs.BoolVar(&token, "enroll-token", false, "print a one-time enrollment token")
	case "reset-otp":
		fs.BoolVar(&token, "enroll-token", false, "print a one-time enrollment token")
	case "import-otp":
		fs.BoolVar(&ignoreRateLimit, "ignore-rate-limit", false, "import a file with RATE_LIMIT, which the bastion does not enforce")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	ctx := context.Background()
	now := time.Now()
	if verb == "list" {
		return listUsers(e, st, now)
	}
	if len(pos) < 1 {
		return &exitError{code: 2, msg: "user " + verb + ": want a user name"}
	}
	name := pos[0]
	if verb != "show" && verb != "del" && !validName(name) {
		return &exitError{code: 2, msg: fmt.Sprintf("user name %q: use 1-32 of a-z 0-9 . _ - starting with a letter", name)}
	}
	var fields map[string]string
	switch verb {
	case "add":
		if len(keys) == 0 {
			return &exitError{code: 2, msg: "user add: want at least one --key FILE"}
		}
		if err := checkGroups(groups); err != nil {
			return &exitError{code: 2, msg: "user add: " + err.Error()}
		}
		lines, err := readKeys(keys)
		if err != nil {
			return err
		}
		hash, err := readPassword(e)
		if err != nil {
			return err
		}
		tok, err := maybeToken(token)
		if err != nil {
			return err
		}
		err = st.AddUser(ctx, store.NewUser{Name: name, PasswordHash: hash, Groups: groups, Keys: lines,
			EnrollUntil: now.Add(e.cfg.Enroll.EnrollWindow), EnrollToken: tok}, now)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("user %s exists", name)
		}
		if err != nil {
			return err
		}
		fields = map[string]string{"groups": strings.Join(groups, ","), "keys": fmt.Sprint(len(lines))}
		fmt.Fprintf(e.stdout, "added %s (pending 2FA enrollment until %s)\n", name, now.Add(e.cfg.Enroll.EnrollWindow).UTC().Format(time.RFC3339))
		printToken(e, tok)
	case "passwd":
		hash, err := readPassword(e)
		if err != nil {
			return err
		}
		err = st.SetPassword(ctx, name, hash)
		if err != nil {
			return userErr(name, err)
		}
		fmt.Fprintf(e.stdout, "password of %s changed\n", name)
	case "show":
		u, err := st.User(ctx, name)
		if err != nil {
			return userErr(name, err)
		}
		showUser(e, u, now)
		return nil
	case "del":
		if err := st.DeleteUser(ctx, name); err != nil {
			return userErr(name, err)
		}
		fmt.Fprintf(e.stdout, "deleted %s; their open connections end within %s\n", name, e.cfg.Session.RecheckInterval)
	case "lock":
		if err := st.Lock(ctx, name); err != nil {
			return userErr(name, err)
		}
		fmt.Fprintf(e.stdout, "locked %s until `bastion user unlock %s`; their open connections end within %s\n", name, name, e.cfg.Session.RecheckInterval)
	case "unlock":
		if err := st.Unlock(ctx, name); err != nil {
			return userErr(name, err)
		}
		fmt.Fprintf(e.stdout, "unlocked %s\n", name)
	case "reset-otp":
		tok, err := maybeToken(token)
		if err != nil {
			return err
		}
		until := now.Add(e.cfg.Enroll.EnrollWindow)
		if err := st.ResetOTP(ctx, name, until, tok); err != nil {
			return userErr(name, err)
		}
		fmt.Fprintf(e.stdout, "%s is pending 2FA enrollment until %s; the old secret and recovery codes are gone, open connections end within %s\n", name, until.UTC().Format(time.RFC3339), e.cfg.Session.RecheckInterval)
		printToken(e, tok)
	case "import-otp":
		if len(pos) != 2 {
			return &exitError{code: 2, msg: "user import-otp: want NAME FILE"}
		}
		f, err := importOTP(ctx, st, name, pos[1], ignoreRateLimit, e.cfg.Auth.LockoutAfter, e.cfg.Auth.LockoutTime)
		if err != nil {
			return err
		}
		fields = f
		fmt.Fprintf(e.stdout, "imported %s %s secret for %s with %s recovery codes\n", f["kind"], pos[1], name, f["recovery_codes"])
		if f["weak"] != "" {
			fmt.Fprintf(e.stderr, "warning: the secret has %s bits; reset-otp and re-enroll for 160\n", f["bits"])
		}
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("user: unknown verb %q", verb)}
	}
	return adminAudit(e, "admin.user."+verb, name, fields)
}

// adminAudit records an admin action with the OS user who ran it.
func adminAudit(e *env, typ, name string, fields map[string]string) error {
	if fields == nil {
		fields = map[string]string{}
	}
	fields["os_user"] = osUser()
	num := map[string]int64{} // counts are JSON numbers (docs/audit.md)
	for _, k := range []string{"keys", "recovery_codes", "window", "bits"} {
		if n, err := strconv.ParseInt(fields[k], 10, 64); err == nil {
			num[k] = n
			delete(fields, k)
		}
	}
	if err := appendCLI(e.cfg, audit.Event{Type: typ, User: name, Result: "ok", Fields: fields, Num: num}); err != nil {
		return fmt.Errorf("the action was done but could not be written to the audit log: %w", err)
	}
	return nil
}

func osUser() string {
	if s := os.Getenv("SUDO_USER"); s != "" {
		return s
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Getuid())
}

func userErr(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s", name)
	}
	return err
}

func validName(s string) bool {
	if len(s) < 1 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// checkGroups refuses group names the state cannot keep apart: the store
// keeps groups as one comma-separated text, so "ops,dba" would become two.
func checkGroups(groups []string) error {
	for _, g := range groups {
		if g == "" || len(g) > 64 || strings.ContainsFunc(g, func(r rune) bool { return r == ',' || r <= ' ' || r == 0x7f || r > 0x7e }) {
			return fmt.Errorf("group %q: use 1-64 printable ASCII characters without commas or spaces (repeat --group for several groups)", g)
		}
	}
	return nil
}

// readKeys reads authorized_keys-style files and checks every key parses.
// Options the bastion enforces (from=, expiry-time=) or never needs (no-pty,
// ...) are kept on the stored line; any other option is refused with a
// message, never dropped (see package authkeys).
func readKeys(files []string) ([]string, error) {
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for rest := data; len(rest) > 0; {
			k, comment, opts, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				if len(out) == 0 {
					return nil, fmt.Errorf("key file %s: %w", f, err)
				}
				break
			}
			o, err := authkeys.ParseOptions(opts)
			if err != nil {
				return nil, fmt.Errorf("key file %s, key %s: %w", f, ssh.FingerprintSHA256(k), err)
			}
			line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
			if len(o.Kept) > 0 {
				line = strings.Join(o.Kept, ",") + " " + line
			}
			if comment != "" {
				line += " " + untrusted.Text(comment, untrusted.MaxText)
			}
			if len(line) > authkeys.MaxLine {
				return nil, fmt.Errorf("key file %s: key line longer than %d bytes", f, authkeys.MaxLine)
			}
			out = append(out, line)
			rest = next
		}
	}
	return out, nil
}

// readPassword reads one line from stdin (twice, hidden, on a terminal).
func readPassword(e *env) (string, error) {
	var pw string
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("want the password as one line on stdin")
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	a := e.cfg.Argon2
	return passwd.Hash(pw, passwd.Params{MemoryKiB: a.MemoryKiB, Time: a.Time, Threads: a.Threads})
}

func maybeToken(want bool) (string, error) {
	if !want {
		return "", nil
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return strings.ToLower(oath.EncodeSecret(b)), nil
}

func printToken(e *env, tok string) {
	if tok != "" {
		fmt.Fprintf(e.stdout, "one-time enrollment token (give it to the user; shown once): %s\n", tok)
	}
}

func importOTP(ctx context.Context, st *store.Store, name, path string, ignoreRateLimit bool, lockAfter int, lockFor time.Duration) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := oath.ParseGoogleAuthenticator(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if g.RateLimit > 0 && !ignoreRateLimit {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("%s: RATE_LIMIT %d %d is not enforced by the bastion; its account lockout applies instead (%s). Pass --ignore-rate-limit to import anyway",
			path, g.RateLimit, g.RateLimitSecs, lockoutText(lockAfter, lockFor))}
	}
	p := g.Params()
	o := store.OTP{Params: p, Counter: g.HOTPCounter}
	if err := st.SetOTP(ctx, name, o, g.ScratchCodes, false); err != nil {
		return nil, userErr(name, err)
	}
	f := map[string]string{"kind": string(p.Kind), "recovery_codes": fmt.Sprint(len(g.ScratchCodes)),
		"window": fmt.Sprint(p.Window), "bits": fmt.Sprint(8 * len(p.Secret))}
	if len(p.Secret) < oath.SecretSize {
		f["weak"] = "yes"
	}
	if g.RateLimit > 0 {
		f["rate_limit"] = fmt.Sprintf("ignored: %d per %ds", g.RateLimit, g.RateLimitSecs)
	}
	return f, nil
}

// lockoutText says what the lockout does, for messages.
func lockoutText(after int, lockFor time.Duration) string {
	if lockFor == 0 {
		return fmt.Sprintf("locked after %d failed logins until `bastion user unlock`", after)
	}
	return fmt.Sprintf("locked for %s after %d failed logins", lockFor, after)
}

func twoFA(u *store.User, now time.Time) string {
	switch {
	case u.OTP != nil:
		return strings.ToUpper(string(u.OTP.Params.Kind))
	case now.After(u.EnrollUntil):
		return "pending (expired)"
	case u.HasToken:
		return "pending (token)"
	}
	return "pending"
}

func lockState(u *store.User, now time.Time) string {
	switch {
	case u.LockedByHand:
		return "locked (admin)"
	case u.Locked(now):
		return "locked until " + u.LockedUntil.UTC().Format("15:04:05")
	}
	return "-"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func listUsers(e *env, st *store.Store, now time.Time) error {
	users, err := st.Users(context.Background())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tGROUPS\t2FA\tRECOVERY\tLOCK\tLAST LOGIN")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", u.Name, strings.Join(u.Groups, ","), twoFA(u, now),
			u.RecoveryLeft, lockState(u, now), when(u.LastLogin))
	}
	return tw.Flush()
}

func showUser(e *env, u *store.User, now time.Time) {
	fmt.Fprintf(e.stdout, "user:        %s\ngroups:      %s\n2fa:         %s\n", u.Name, strings.Join(u.Groups, ","), twoFA(u, now))
	if u.OTP == nil {
		fmt.Fprintf(e.stdout, "enroll by:   %s\n", u.EnrollUntil.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(e.stdout, "window:      %d\n", u.OTP.Params.Window)
	}
	fmt.Fprintf(e.stdout, "recovery:    %d unused\nfailures:    %d\nlock:        %s\nlast login:  %s %s\ncreated:     %s\n",
		u.RecoveryLeft, u.Failures, lockState(u, now), when(u.LastLogin), u.LastSource, when(u.CreatedAt))
	for _, k := range u.Keys {
		if pk, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(k)); err == nil {
			fmt.Fprintf(e.stdout, "key:         %s %s", pk.Type(), ssh.FingerprintSHA256(pk))
			if len(opts) > 0 {
				fmt.Fprintf(e.stdout, " %s", strings.Join(opts, ","))
			}
			fmt.Fprintln(e.stdout)
		}
	}
}
