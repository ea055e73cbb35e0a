package oath

import (
	"crypto/rand"
	"fmt"
)

// recoveryAlphabet is lower case without 0, 1, i, l, o (31 symbols).
const recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// NewRecoveryCodes returns n random recovery codes of 10 characters from an
// unambiguous alphabet, grouped "xxxxx-xxxxx" (about 49.5 bits each).
// n must be between 0 and 1000.
func NewRecoveryCodes(n int) ([]string, error) {
	if n < 0 || n > 1000 {
		return nil, fmt.Errorf("oath: bad recovery code count %d", n)
	}
	codes := make([]string, 0, n)
	var buf [64]byte
	for len(codes) < n {
		code := make([]byte, 0, 11)
		for len(code) < 11 {
			if _, err := rand.Read(buf[:]); err != nil {
				return nil, err
			}
			for _, b := range buf {
				if len(code) == 11 {
					break
				}
				if len(code) == 5 {
					code = append(code, '-')
				}
				if int(b) >= 8*len(recoveryAlphabet) { // reject for uniformity
					continue
				}
				code = append(code, recoveryAlphabet[int(b)%len(recoveryAlphabet)])
			}
		}
		codes = append(codes, string(code))
	}
	return codes, nil
}

// NormalizeRecovery lower-cases ASCII letters and strips '-', spaces and
// tabs so users can type recovery codes loosely. Inputs longer than 64 bytes
// yield "", which is never a valid code.
func NormalizeRecovery(s string) string {
	if len(s) > maxAnswerLen {
		return ""
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' || c == ' ' || c == '\t':
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// LooksLikeRecovery reports whether an answer should be tried as a recovery
// code rather than an OTP: it contains an ASCII letter or '-', or it is all
// digits and has 8 digits (an imported google-authenticator scratch code)
// while the OTP has 6, or 10 digits (a generated code that happened to be all
// digits). With digits == 8 an 8-digit answer is treated as an OTP.
func LooksLikeRecovery(answer string, digits int) bool {
	if len(answer) > maxAnswerLen {
		return false
	}
	d, _ := digitsOf(digits)
	n := 0
	for i := 0; i < len(answer); i++ {
		switch c := answer[i]; {
		case c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			return true
		case c >= '0' && c <= '9':
			n++
		case c == ' ' || c == '\t':
		default:
			return false
		}
	}
	return n != d && (n == 8 || n == 10)
}
