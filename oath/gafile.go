package oath

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GAFile is what Debian's google-authenticator tool writes to
// ~/.google_authenticator: first line the base32 secret, then option lines
// starting with `" ` (`" TOTP_AUTH`, `" HOTP_COUNTER n`, `" WINDOW_SIZE n`,
// `" STEP_SIZE n`, `" DISALLOW_REUSE [used steps...]`,
// `" RATE_LIMIT n m [timestamps...]`), and 8-digit scratch codes one per line.
type GAFile struct {
	Secret      []byte
	Kind        Kind // TOTP if TOTP_AUTH present, HOTP if HOTP_COUNTER present; error if neither or both
	HOTPCounter uint64
	// WindowSize is WINDOW_SIZE as written (1..MaxGAWindowSize, default 3): the total
	// number of codes libpam accepts. Params converts it; see the package doc.
	WindowSize    int
	StepSize      int // STEP_SIZE, 1..60, default 30
	DisallowReuse bool
	RateLimit     int      // n attempts (1..100), 0 if no RATE_LIMIT
	RateLimitSecs int      // per m seconds (1..3600)
	ScratchCodes  []string // 8 digits each, in file order, duplicates dropped
}

// MaxWindowSteps is the widest TOTP window, in steps either side of now, the
// bastion accepts from its config (auth.totp_window) or an imported file.
const MaxWindowSteps = 10

// MaxGAWindowSize is the largest imported WINDOW_SIZE: the same number of
// codes (2*MaxWindowSteps+1) as the widest config window, for TOTP and HOTP.
const MaxGAWindowSize = 2*MaxWindowSteps + 1

// MaxGAFileSize bounds the input of ParseGoogleAuthenticator.
const MaxGAFileSize = 64 << 10

// ParseGoogleAuthenticator parses a ~/.google_authenticator file. It is
// strict about the secret, the scratch codes and the values of the options
// it uses, and ignores unknown `"` option lines. Errors name the line but
// never quote secret material.
func ParseGoogleAuthenticator(data []byte) (*GAFile, error) {
	if len(data) > MaxGAFileSize {
		return nil, fmt.Errorf("oath: google-authenticator file larger than %d bytes", MaxGAFileSize)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	if strings.TrimSpace(lines[0]) == "" {
		return nil, errors.New("oath: google-authenticator file: line 1: no secret")
	}
	secret, err := DecodeSecret(lines[0])
	if err != nil {
		return nil, fmt.Errorf("oath: google-authenticator file: line 1: %w", err)
	}
	g := &GAFile{Secret: secret, WindowSize: 3, StepSize: 30}
	seen := map[string]bool{}
	var totp, hotp bool
	for i, l := range lines[1:] {
		lineErr := func(format string, a ...any) error {
			return fmt.Errorf("oath: google-authenticator file: line %d: "+format, append([]any{i + 2}, a...)...)
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		if l[0] != '"' {
			code := strings.TrimSpace(l)
			if !isScratchCode(code) {
				return nil, lineErr("malformed scratch code (want 8 digits)")
			}
			if !slices.Contains(g.ScratchCodes, code) {
				g.ScratchCodes = append(g.ScratchCodes, code)
			}
			continue
		}
		f := strings.Fields(l[1:])
		if len(f) == 0 {
			continue // a bare `"` is a comment
		}
		key, args := f[0], f[1:]
		switch key {
		case "TOTP_AUTH", "HOTP_COUNTER", "WINDOW_SIZE", "STEP_SIZE", "DISALLOW_REUSE", "RATE_LIMIT":
			if seen[key] {
				return nil, lineErr("duplicate %s", key)
			}
			seen[key] = true
		default:
			continue // unknown options (TIME_SKEW, RESETTING_TIME_SKEW, ...) are ignored
		}
		switch key {
		case "TOTP_AUTH":
			totp = true
		case "DISALLOW_REUSE":
			g.DisallowReuse = true // the used steps that follow are not kept
		case "HOTP_COUNTER":
			hotp = true
			if len(args) != 1 {
				return nil, lineErr("HOTP_COUNTER needs one value")
			}
			if g.HOTPCounter, err = strconv.ParseUint(args[0], 10, 64); err != nil {
				return nil, lineErr("bad HOTP_COUNTER")
			}
		case "WINDOW_SIZE":
			if g.WindowSize, err = intArg(args, 1, 100); err != nil {
				return nil, lineErr("WINDOW_SIZE: %v", err)
			}
			if g.WindowSize > MaxGAWindowSize {
				return nil, lineErr("WINDOW_SIZE %d accepts %d codes; the bastion accepts at most %d (auth.totp_window at most %d steps either side): lower it or reset-otp and re-enroll",
					g.WindowSize, g.WindowSize, MaxGAWindowSize, MaxWindowSteps)
			}
		case "STEP_SIZE":
			if g.StepSize, err = intArg(args, 1, 60); err != nil {
				return nil, lineErr("STEP_SIZE: %v", err)
			}
		case "RATE_LIMIT":
			if len(args) < 2 {
				return nil, lineErr("RATE_LIMIT needs attempts and seconds")
			}
			if g.RateLimit, err = intArg(args[:1], 1, 100); err != nil {
				return nil, lineErr("RATE_LIMIT attempts: %v", err)
			}
			if g.RateLimitSecs, err = intArg(args[1:2], 1, 3600); err != nil {
				return nil, lineErr("RATE_LIMIT seconds: %v", err)
			}
			// the timestamps of recent attempts that follow are not kept
		}
	}
	switch {
	case totp && hotp:
		return nil, errors.New("oath: google-authenticator file has both TOTP_AUTH and HOTP_COUNTER")
	case totp:
		g.Kind = KindTOTP
	case hotp:
		g.Kind = KindHOTP
	default:
		return nil, errors.New("oath: google-authenticator file has neither TOTP_AUTH nor HOTP_COUNTER")
	}
	return g, nil
}

func intArg(args []string, lo, hi int) (int, error) {
	if len(args) != 1 {
		return 0, errors.New("want exactly one value")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer in %d..%d", lo, hi)
	}
	return n, nil
}

// isScratchCode: exactly 8 ASCII digits, first not '0' (libpam requires
// 10000000..99999999).
func isScratchCode(s string) bool {
	if len(s) != 8 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Params returns the OTP parameters of the file: 6 digits, SHA1,
// Period = StepSize, and Window converted from libpam's WINDOW_SIZE (total
// codes accepted): WindowSize/2 for TOTP, WindowSize-1 for HOTP. The caller
// starts HOTP at HOTPCounter and should import the scratch codes as
// recovery codes.
func (g *GAFile) Params() Params {
	p := Params{Kind: g.Kind, Secret: g.Secret, Digits: 6}
	if g.Kind == KindHOTP {
		p.Window = max(g.WindowSize-1, 0)
	} else {
		p.Period = g.StepSize
		p.Window = g.WindowSize / 2
	}
	return p
}
