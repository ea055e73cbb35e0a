// Cleaning and checking outside strings.

package untrusted

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on outside strings, in bytes.
const (
	// MaxUserName is the longest user name a client may ask for. Ours are
	// at most 32 bytes (`bastion user add`); Linux's useradd allows 32, and
	// most systems cap at 64.
	MaxUserName = 64
	// MaxClientVersion is the longest SSH identification string without
	// its CRLF: RFC 4253 §4.2 allows 255 bytes including CRLF.
	MaxClientVersion = 253
	// MaxHost is the longest requested jump host: a DNS name is at most 253
	// bytes, a target name in our config far less.
	MaxHost = 255
	// MaxText bounds any other outside text we keep (reasons that quote a
	// client's disconnect message, key comments, answers).
	MaxText = 1024
)

// ErrRefused is wrapped by every error of UserName and ClientVersion.
var ErrRefused = errors.New("refused outside string")

// cutMarker is appended to a cut string; %d is the number of bytes cut.
const cutMarker = "…[cut %d bytes]"

// MinLimit is the smallest limit Text and Cut honour: the cut marker fits.
const MinLimit = 48

// Text returns s as valid, printable UTF-8 of at most limit bytes (limit is
// raised to MinLimit if smaller, so the cut marker fits). Invalid bytes become
// `\xNN`, non-printing runes `\u....` or `\U........`; spaces stay.
func Text(s string, limit int) string {
	limit = max(limit, MinLimit)
	if len(s) <= limit && clean(s) {
		return s
	}
	var b strings.Builder
	// Stop escaping once the result is clearly too long: bounded work for
	// a 256 KiB input.
	i := 0
	for i < len(s) && b.Len() <= limit {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case printable(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	out := b.String()
	if len(out) <= limit && i == len(s) {
		return out
	}
	return Cut(out, limit, len(s)-i)
}

// Cut returns s (valid UTF-8) cut at a rune boundary so that it and the
// marker "…[cut N bytes]" fit in limit bytes (limit >= MinLimit); extra is
// added to N for bytes already dropped before s. A string within limit is
// returned unchanged when extra is 0.
func Cut(s string, limit, extra int) string {
	if len(s) <= limit && extra == 0 {
		return s
	}
	keep := min(len(s), limit)
	for {
		for keep > 0 && keep < len(s) && !utf8.RuneStart(s[keep]) {
			keep--
		}
		marker := fmt.Sprintf(cutMarker, len(s)-keep+extra)
		if keep+len(marker) <= limit || keep == 0 {
			return s[:keep] + marker
		}
		keep = max(0, min(keep-1, limit-len(marker)))
	}
}

// UserName checks the user name a client asked for: 1 to MaxUserName bytes
// of valid UTF-8 without control, space or other non-printing characters.
func UserName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty user name", ErrRefused)
	case len(s) > MaxUserName:
		return fmt.Errorf("%w: user name of %d bytes (max %d)", ErrRefused, len(s), MaxUserName)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: user name is not valid UTF-8", ErrRefused)
	}
	for _, r := range s {
		if !printable(r) || r == ' ' {
			return fmt.Errorf("%w: user name holds a non-printing character %U", ErrRefused, r)
		}
	}
	return nil
}

// ClientVersion checks an SSH identification string (without CRLF): at
// most MaxClientVersion bytes of printable US-ASCII and spaces, as RFC 4253
// §4.2 requires.
func ClientVersion(s string) error {
	if len(s) > MaxClientVersion {
		return fmt.Errorf("%w: client version of %d bytes (max %d)", ErrRefused, len(s), MaxClientVersion)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return fmt.Errorf("%w: client version holds byte %#02x", ErrRefused, c)
		}
	}
	return nil
}

// clean reports whether s needs no escaping.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return cleanSlow(s)
		}
	}
	return true
}

func cleanSlow(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !printable(r) {
			return false
		}
	}
	return true
}

// printable: graphic runes and the ASCII space; no controls, no format
// characters (bidi overrides, zero-width), no line or paragraph separators.
func printable(r rune) bool {
	return r == ' ' || unicode.IsGraphic(r) && !unicode.Is(unicode.Zs, r) || r == '\u00a0'
}
