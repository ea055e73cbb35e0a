package oath

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the OTP algorithm family.
type Kind string

// Supported kinds.
const (
	KindTOTP Kind = "totp"
	KindHOTP Kind = "hotp"
)

// Params describe one user's OTP token.
type Params struct {
	Kind   Kind
	Secret []byte // raw key bytes (not base32)
	Digits int    // 6 or 8; 0 means 6
	Period int    // TOTP step in seconds; 0 (or negative) means 30
	Window int    // TOTP: steps accepted either side of now (0 means exactly the current step); HOTP: look-ahead count beyond the counter. Negative means 0; at most 100.
}

// Verification errors.
var (
	ErrInvalid  = errors.New("invalid code")
	ErrReplayed = errors.New("code already used")
	ErrFormat   = errors.New("malformed code") // wrong length, non-ASCII-digit, etc.
)

const (
	defaultDigits = 6
	defaultPeriod = 30
	maxWindow     = 100
	maxAnswerLen  = 64 // longer answers are rejected before any other work
)

func digitsOf(n int) (int, bool) {
	if n == 0 {
		n = defaultDigits
	}
	return n, n == 6 || n == 8
}

func periodOf(p Params) int64 {
	if p.Period <= 0 {
		return defaultPeriod
	}
	return int64(p.Period)
}

// checkParams validates what Verify* need beyond the code itself.
func checkParams(p Params) (window int, err error) {
	if len(p.Secret) == 0 {
		return 0, errors.New("oath: params have no secret")
	}
	if p.Window > maxWindow {
		return 0, fmt.Errorf("oath: window %d larger than %d", p.Window, maxWindow)
	}
	return max(p.Window, 0), nil
}

// Code computes the code for a counter (HOTP) — used by tests and benchmarks.
// For TOTP pass Step(p, t) as the counter. It returns "" if p.Digits is not
// 0, 6 or 8.
func Code(p Params, counter uint64) string {
	d, ok := digitsOf(p.Digits)
	if !ok {
		return ""
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, p.Secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // RFC 4226 §5.3 dynamic truncation
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range d {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(v%mod), 10)
	for len(s) < d {
		s = "0" + s
	}
	return s
}

// Step returns the TOTP time step for t: floor(unix(t) / Period).
func Step(p Params, t time.Time) int64 {
	u, per := t.Unix(), periodOf(p)
	s := u / per
	if u < 0 && u%per != 0 {
		s--
	}
	return s
}

// VerifyTOTP reports the time step that code matches within now±Window
// steps. Steps <= lastUsed are never accepted (pass -1 if no code was ever
// used): if the only matches are such steps, it returns ErrReplayed. When
// several steps match, the latest is returned, so storing it also blocks the
// same digits at the other steps. step is meaningful only when err is nil.
func VerifyTOTP(p Params, code string, now time.Time, lastUsed int64) (step int64, err error) {
	c, err := NormalizeCode(code, p.Digits)
	if err != nil {
		return 0, err
	}
	w, err := checkParams(p)
	if err != nil {
		return 0, err
	}
	cur := Step(p, now)
	if cur >= math.MaxInt64-int64(w) { // s++ past cur+w must not overflow
		return 0, ErrInvalid
	}
	cb := []byte(c)
	matched, replayed := int64(-1), 0
	// Every candidate is computed and compared; no early return.
	for s := cur - int64(w); s <= cur+int64(w); s++ {
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(Code(p, uint64(s))), cb)
		if eq == 1 && s > lastUsed {
			matched = s
		}
		if s <= lastUsed {
			replayed |= eq
		}
	}
	switch {
	case matched >= 0:
		return matched, nil
	case replayed == 1:
		return 0, ErrReplayed
	default:
		return 0, ErrInvalid
	}
}

// VerifyHOTP checks counter..counter+Window; returns the counter value to
// store next (matched+1). When several counters match, the latest wins.
// Codes for counters below counter are ErrInvalid.
func VerifyHOTP(p Params, code string, counter uint64) (next uint64, err error) {
	c, err := NormalizeCode(code, p.Digits)
	if err != nil {
		return 0, err
	}
	w, err := checkParams(p)
	if err != nil {
		return 0, err
	}
	cb := []byte(c)
	found := 0
	var matched uint64
	for i := uint64(0); i <= uint64(w); i++ {
		n := counter + i
		if n < counter || n == math.MaxUint64 { // next would overflow
			break
		}
		if subtle.ConstantTimeCompare([]byte(Code(p, n)), cb) == 1 {
			matched, found = n, 1
		}
	}
	if found == 0 {
		return 0, ErrInvalid
	}
	return matched + 1, nil
}

// NormalizeCode removes ASCII spaces, tabs and line breaks (anywhere, so the
// "123 456" grouping shown by apps may be typed) and rejects anything that is
// not then exactly digits ASCII digits (0 means 6; only 6 and 8 are valid)
// with ErrFormat. Answers longer than 64 bytes are rejected before scanning.
func NormalizeCode(code string, digits int) (string, error) {
	d, ok := digitsOf(digits)
	if !ok || len(code) > maxAnswerLen {
		return "", ErrFormat
	}
	b := make([]byte, 0, d)
	for i := 0; i < len(code); i++ {
		switch ch := code[i]; {
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
		case ch >= '0' && ch <= '9' && len(b) < d:
			b = append(b, ch)
		default:
			return "", ErrFormat
		}
	}
	if len(b) != d {
		return "", ErrFormat
	}
	return string(b), nil
}
