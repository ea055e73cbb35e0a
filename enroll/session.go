// The enrollment dialog run inside the keyboard-interactive step.
package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/kbdint"
	"bastion/oath"
	"bastion/store"
)

// Outcomes callers branch on.
var (
	ErrRefused   = errors.New("enrollment not allowed")
	ErrFailed    = errors.New("enrollment code not confirmed")
	ErrAbandoned = errors.New("enrollment abandoned")
)

// Store is the part of the state enrollment uses.
type Store interface {
	CheckEnrollToken(ctx context.Context, name, token string) error
	SetOTP(ctx context.Context, name string, o store.OTP, recovery []string, onlyIfPending bool) error
}

// Enroller implements kbdint.Enroller.
type Enroller struct {
	Store Store
	// Policy returns the current enrollment config and the TOTP window.
	Policy func() (config.Enroll, int)
	// Label is the account host shown in the authenticator, e.g. "bastion.example.org".
	Label string
	Now   func() time.Time
}

// PromptToken asks for the admin-issued token under the token policy.
const PromptToken = "Enrollment token: "

// ErrWrongPassword ends a dialog that ran only so that a wrong password
// could not be told from a right one before the code.
var ErrWrongPassword = errors.New("wrong password")

// Enroll runs the dialog for pending user u. It runs the same whether the
// password was right or not (no password oracle); passwordOK decides only
// after the code was confirmed. The recovery codes are shown before anything
// is stored, and the secret is stored only when the user pressed Enter under
// them, so a cut connection leaves the user pending, never enrolled without
// their codes. It asks for enroll.max_time from its start instead of the
// login grace time.
func (e *Enroller) Enroll(ctx context.Context, u *store.User, a kbdint.Attempt, client ssh.KeyboardInteractiveChallenge, passwordOK bool) error {
	pol, window := e.Policy()
	if a.ExtendDeadline != nil {
		a.ExtendDeadline(pol.MaxTime)
	}
	ev := func(typ, result string, f map[string]string, num ...map[string]int64) error {
		e := audit.Event{Type: typ, User: u.Name, Result: result, Fields: f}
		if len(num) > 0 {
			e.Num = num[0]
		}
		return a.Audit(e)
	}
	if err := e.allowed(ctx, u, pol, client); err != nil {
		a.Notify("bastion: " + err.Error() + "\n")
		ev("enroll.refused", "fail", map[string]string{"reason": err.Error()})
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}

	secret, err := oath.NewSecret()
	if err != nil {
		return err
	}
	params := oath.Params{Kind: oath.KindTOTP, Secret: secret, Digits: 6, Period: 30, Window: window}
	issuer := pol.Issuer
	if e.Label != "" {
		issuer = fmt.Sprintf("%s (%s)", pol.Issuer, e.Label)
	}
	uri := oath.URI(params, issuer, u.Name, 0)
	qrText, err := RenderQR(uri, pol.QRInverted)
	if err != nil {
		return err
	}
	if err := ev("enroll.offered", "", nil); err != nil {
		a.Notify(kbdint.MsgAuditDown)
		return fmt.Errorf("%w: %v", kbdint.ErrAuditFailed, err)
	}

	prompt := EnrollPrompt(qrText, secret, uri)
	var step int64
	for try := 1; ; try++ {
		answers, err := client("", "", []string{prompt}, []bool{true})
		if err != nil {
			ev("enroll.abandoned", "fail", map[string]string{"reason": err.Error()})
			return fmt.Errorf("%w: %v", ErrAbandoned, err)
		}
		code := ""
		if len(answers) == 1 {
			code = answers[0]
		}
		step, err = oath.VerifyTOTP(params, code, e.Now(), 0)
		if err == nil {
			break
		}
		ev("enroll.failed", "fail", map[string]string{"reason": err.Error()}, map[string]int64{"try": int64(try)})
		if try >= pol.MaxTries {
			return fmt.Errorf("%w after %d tries", ErrFailed, try)
		}
		prompt = "That code did not match. Check the clock of your phone.\n" + PromptCodeFromApp
	}

	if !passwordOK {
		return ErrWrongPassword
	}
	codes, err := oath.NewRecoveryCodes(pol.RecoveryCodes)
	if err != nil {
		return err
	}
	if len(codes) > 0 {
		// Nothing is stored yet: leaving here leaves the user pending.
		if _, err := client("", "", []string{RecoveryPrompt(codes)}, []bool{true}); err != nil {
			ev("enroll.abandoned", "fail", map[string]string{"reason": "left before acknowledging the recovery codes"})
			return fmt.Errorf("%w before acknowledging the recovery codes: %v", ErrAbandoned, err)
		}
	}
	if err := e.Store.SetOTP(ctx, u.Name, store.OTP{Params: params, LastStep: step}, codes, true); err != nil {
		a.Notify("bastion: enrollment could not be stored; the codes shown are void. Log in again.\n")
		ev("enroll.failed", "fail", map[string]string{"reason": err.Error()})
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if err := ev("enroll.confirmed", "ok", map[string]string{"kind": "totp"}, map[string]int64{"recovery_codes": int64(len(codes))}); err != nil {
		a.Notify(kbdint.MsgAuditDown)
		return fmt.Errorf("%w: %v", kbdint.ErrAuditFailed, err)
	}
	return nil
}

// allowed applies the enrollment policy; its error text is shown to the user.
func (e *Enroller) allowed(ctx context.Context, u *store.User, pol config.Enroll, client ssh.KeyboardInteractiveChallenge) error {
	if pol.Policy == config.PolicyAdmin {
		return errors.New("your account has no second factor yet and self-enrollment is disabled. Ask an administrator to set it up")
	}
	if e.Now().After(u.EnrollUntil) {
		return errors.New("your enrollment window has expired. Ask an administrator to run `bastion user reset-otp " + u.Name + "`")
	}
	if pol.Policy != config.PolicyToken {
		return nil
	}
	if !u.HasToken {
		return errors.New("enrollment needs a token from an administrator (`bastion user reset-otp --enroll-token " + u.Name + "`)")
	}
	answers, err := client("", "", []string{PromptToken}, []bool{false})
	if err != nil || len(answers) != 1 {
		return errors.New("no enrollment token given")
	}
	if err := e.Store.CheckEnrollToken(ctx, u.Name, strings.TrimSpace(answers[0])); err != nil {
		return errors.New("that enrollment token is not valid")
	}
	return nil
}

// PromptCodeFromApp ends each enrollment prompt.
const PromptCodeFromApp = "Verification code from the app: "

// EnrollPrompt is the prompt text: the QR, the secret in groups of four and
// the URI in plain ASCII (for clients that cannot show the QR), then the question.
func EnrollPrompt(qrText string, secret []byte, uri string) string {
	var b strings.Builder
	b.WriteString("\nTwo-factor enrollment: scan this QR code with your authenticator app\n")
	b.WriteString("(Google Authenticator, FreeOTP, Aegis, ...).\n\n")
	b.WriteString(qrText)
	b.WriteString("\n\nOr enter this key by hand (time-based, 6 digits, 30 s):\n  ")
	b.WriteString(GroupSecret(oath.EncodeSecret(secret)))
	b.WriteString("\n  URI: ")
	b.WriteString(uri)
	b.WriteString("\n\n")
	b.WriteString(PromptCodeFromApp)
	return b.String()
}

// GroupSecret splits a base32 secret into groups of four for reading aloud.
func GroupSecret(s string) string {
	var parts []string
	for len(s) > 4 {
		parts = append(parts, s[:4])
		s = s[4:]
	}
	return strings.Join(append(parts, s), " ")
}

// RecoveryPrompt shows the one-time recovery codes.
func RecoveryPrompt(codes []string) string {
	var b strings.Builder
	b.WriteString("\nCode confirmed. Your one-time recovery codes\n")
	b.WriteString("(each works once in place of a verification code; keep them safe):\n\n")
	for i, c := range codes {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, c)
	}
	b.WriteString("\nTwo-factor authentication is switched on when you press Enter.\n")
	b.WriteString("Press Enter to continue: ")
	return b.String()
}
