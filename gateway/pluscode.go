// The opt-in [auth] password_plus_code: the second step as one `password`
// request holding the password followed by the current code, for clients
// that can send only one password (TACACS+-style single fields).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/kbdint"
)

// errPlusCodeRefused is the outcome for a user whose groups do not allow
// password_plus_code, or who has no code to add yet.
var errPlusCodeRefused = errors.New("password plus code not allowed for this user")

// passwordPlusCode returns the password callback offered after publickey, or
// nil (no `password` method) when [auth] password_plus_code is off.
//
// It decides nothing itself: the split answers feed the same
// secondFactor -> kbdint.Verifier.Login as the two keyboard-interactive
// prompts, so the per-connection attempt cap, the lockout, the replay
// refusal and the audit records are the same ones.
func (f *authFlow) passwordPlusCode(user, fp, keyWire string) func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
	if !f.srv.cfg().Auth.PasswordPlusCode {
		return nil
	}
	return func(conn ssh.ConnMetadata, value []byte) (*ssh.Permissions, error) {
		cfg := f.srv.cfg().Auth // the config in force now (a reload may have turned it off)
		u, err := f.srv.store.User(context.Background(), user)
		if err != nil {
			f.setErr(fmt.Errorf("%w: %v", kbdint.ErrDenied, err))
			return nil, kbdint.ErrDenied
		}
		why := ""
		switch {
		case !cfg.PasswordPlusCode:
			why = "password_plus_code is off"
		case !slices.ContainsFunc(u.Groups, func(g string) bool { return slices.Contains(cfg.PasswordPlusCodeGroups, g) }):
			why = "no group of the user allows password_plus_code"
		case u.OTP == nil:
			why = "no second factor enrolled yet (enrollment needs the prompts)"
		}
		if why != "" {
			f.srv.audit(f.event(audit.Event{Type: "auth.password_plus_code", User: user, Result: "fail", Fields: map[string]string{"reason": why}}))
			f.setErr(fmt.Errorf("%w: %s", errPlusCodeRefused, why))
			return nil, errPlusCodeRefused
		}
		password, code := splitPlusCode(string(value), u.OTP.Params.Digits)
		perms, err := f.secondFactor(conn, answerOnce(password, code), user, fp, keyWire)
		f.srv.audit(f.event(audit.Event{Type: "auth.password_plus_code", User: user, Result: result(err == nil)}))
		return perms, err
	}
}

// splitPlusCode splits a password_plus_code value: the code is its last
// digits bytes. A value not longer than that is all code, with an empty
// (wrong) password, so it fails like any wrong password.
func splitPlusCode(value string, digits int) (password, code string) {
	if len(value) <= digits {
		return "", value
	}
	return value[:len(value)-digits], value[len(value)-digits:]
}

// answerOnce answers the verifier's two prompts from the split value, once
// each; any other round (enrollment, a prompt asked again) ends the login.
func answerOnce(password, code string) ssh.KeyboardInteractiveChallenge {
	answers := map[string]string{kbdint.PromptPassword: password, kbdint.PromptCode: code}
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		if len(questions) != 1 {
			return nil, errors.New("password_plus_code: unexpected round")
		}
		a, ok := answers[questions[0]]
		if !ok {
			return nil, errors.New("password_plus_code: unexpected prompt")
		}
		delete(answers, questions[0])
		return []string{a}, nil
	}
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "fail"
}
