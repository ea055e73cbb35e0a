package oath

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// SecretSize is the length in bytes of secrets made by NewSecret (160 bits,
// the RFC 4226 recommendation and the minimum of SECURITY.md).
const SecretSize = 20

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns 20 random bytes (160 bits) from crypto/rand.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// EncodeSecret returns b as upper-case base32 without padding.
func EncodeSecret(b []byte) string { return b32.EncodeToString(b) }

// DecodeSecret decodes base32 like Google Authenticator does: case is
// ignored, spaces, tabs and dashes are skipped, trailing '=' padding is
// allowed. An empty result is an error. The error never echoes the input.
func DecodeSecret(s string) ([]byte, error) {
	if len(s) > 1024 {
		return nil, errors.New("oath: secret too long")
	}
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '-' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(strings.ToUpper(s), "=")
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, errors.New("oath: secret is not valid base32")
	}
	if len(b) == 0 {
		return nil, errors.New("oath: empty secret")
	}
	return b, nil
}

// esc percent-encodes s for both the label and the query of an otpauth URI
// (space as %20, ':' and '/' encoded).
func esc(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// URI builds an otpauth:// Key URI:
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
//	otpauth://hotp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&counter=N
//
// Issuer and account are percent-encoded separately (a ':' inside them is
// encoded), the issuer is omitted when empty, and counter is used only for
// HOTP. Any Kind other than KindHOTP yields a TOTP URI.
func URI(p Params, issuer, account string, counter uint64) string {
	d, ok := digitsOf(p.Digits)
	if !ok {
		d = p.Digits // let the caller see what is wrong
	}
	label := esc(account)
	if issuer != "" {
		label = esc(issuer) + ":" + label
	}
	q := "secret=" + EncodeSecret(p.Secret)
	if issuer != "" {
		q += "&issuer=" + esc(issuer)
	}
	q += "&algorithm=SHA1&digits=" + strconv.Itoa(d)
	kind := KindTOTP
	if p.Kind == KindHOTP {
		kind = KindHOTP
		q += "&counter=" + strconv.FormatUint(counter, 10)
	} else {
		q += "&period=" + strconv.FormatInt(periodOf(p), 10)
	}
	return "otpauth://" + string(kind) + "/" + label + "?" + q
}
