// Parsing and resolving `[login@]target [cmd]`: pure functions.
package session

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"bastion/config"
	"bastion/upstream"
)

// MaxCommand bounds the command line a client may send.
const MaxCommand = 8 << 10

// Command is what follows `ssh alice@bastion`.
type Command struct {
	Login  string // empty: the target's first login
	Target string
	Args   string // the remote command; empty: a shell
}

// Errors a user sees (after "bastion: ").
var (
	ErrEmpty     = errors.New("no target given: use `ssh -t USER@bastion TARGET` or `ssh USER@bastion [LOGIN@]TARGET COMMAND`")
	ErrMalformed = errors.New("malformed command")
	ErrNoTarget  = errors.New("no such target that you may use")
	ErrJumpOnly  = errors.New("this target allows only ssh -J jumps, not recorded sessions")
	ErrNoLogins  = errors.New("this target has no logins for recorded sessions (logins in the bastion config)")
	ErrLogin     = errors.New("login not allowed on this target")
)

// ParseCommand splits a client's command line. It checks form only.
func ParseCommand(s string) (Command, error) {
	if len(s) > MaxCommand {
		return Command{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxCommand)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return Command{}, fmt.Errorf("%w: not UTF-8 text", ErrMalformed)
	}
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return Command{}, ErrEmpty
	}
	first, rest, _ := strings.Cut(s, " ")
	if i := strings.IndexAny(first, "\t\r\n"); i >= 0 {
		first, rest = first[:i], first[i+1:]+" "+rest
	}
	var c Command
	c.Target = first
	if login, target, ok := strings.Cut(first, "@"); ok {
		if !config.ValidLogin(login) {
			return Command{}, fmt.Errorf("%w: bad login %q", ErrMalformed, login)
		}
		c.Login, c.Target = login, target
	}
	if c.Target == "" || strings.ContainsAny(c.Target, "@/\\'\"`$;|&<>(){}[]*?!~#%") || strings.ContainsFunc(c.Target, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return Command{}, fmt.Errorf("%w: bad target %q", ErrMalformed, first)
	}
	c.Args = strings.TrimSpace(rest)
	return c, nil
}

// Resolve finds the target c names that id may open a recorded session on,
// and the login to use. Targets id may not use and targets that do not
// exist give the same error.
func Resolve(targets []config.Target, id upstream.Identity, c Command) (config.Target, string, error) {
	i := slices.IndexFunc(targets, func(t config.Target) bool { return t.Name == c.Target })
	if i < 0 || !upstream.Allowed(targets[i], id) {
		return config.Target{}, "", ErrNoTarget
	}
	t := targets[i]
	if t.TargetMode() == config.ModeJump {
		return config.Target{}, "", ErrJumpOnly
	}
	if len(t.Logins) == 0 {
		return config.Target{}, "", ErrNoLogins
	}
	if c.Login == "" {
		return t, t.Logins[0], nil
	}
	if !slices.Contains(t.Logins, c.Login) {
		return config.Target{}, "", fmt.Errorf("%w (allowed: %s)", ErrLogin, strings.Join(t.Logins, ", "))
	}
	return t, c.Login, nil
}

// JumpPrincipals are the logins of the targets id may jump to: the
// principals of a `cert` certificate.
func JumpPrincipals(targets []config.Target, id upstream.Identity) []string {
	var out []string
	for _, t := range upstream.Reachable(targets, id) {
		if t.TargetMode() == config.ModeSession {
			continue
		}
		for _, l := range t.Logins {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}
