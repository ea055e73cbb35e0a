package enroll

import (
	"errors"
	"strings"

	"github.com/mdp/qrterminal/v3"
	"rsc.io/qr"
)

// qrQuietZone is the quiet zone in modules. The QR spec asks for 4; 2 is
// enough for phone scanners and saves two terminal lines, which matters
// because the whole code should fit a small terminal.
const qrQuietZone = 2

// qrLevel is the error-correction level. L (7%) keeps the code small; a
// terminal renders modules crisply, so little redundancy is needed.
const qrLevel = qrterminal.L

// RenderQR renders uri as a QR code made of Unicode half blocks, two QR rows
// per text line, for a keyboard-interactive prompt (OpenSSH shows prompt
// text with UTF-8 and newlines intact; see SECURITY.md). Lines are joined by
// "\n" without a trailing newline; the text holds no escape sequences.
//
// No glyph choice shows correct polarity on every terminal, because glyph
// ink is light on a dark-background terminal and dark on a light one.
//
//   - inverted == false (the default of qrterminal and of qrencode -t UTF8):
//     light modules and the quiet zone are ink ('█'), dark modules are
//     blank. Correct polarity on a dark-background terminal; on a light
//     background the code appears inverted (light on dark), which many but
//     not all phone scanners accept.
//   - inverted == true (like qrencode -t UTF8i): dark modules are ink.
//     Correct polarity on a light-background terminal.
//
// The caller should still print the otpauth secret as plain text.
func RenderQR(uri string, inverted bool) (string, error) {
	if uri == "" {
		return "", errors.New("enroll: empty QR payload")
	}
	// qrterminal ignores encoding errors (and would then crash), so check
	// that the payload fits a QR code first.
	if _, err := qr.Encode(uri, qrLevel); err != nil {
		return "", err
	}

	// Names in qrterminal: "Black" is a dark module, "White" a light one;
	// BlackWhiteChar is dark upper half over light lower half.
	cfg := qrterminal.Config{
		Level:          qrLevel,
		HalfBlocks:     true,
		QuietZone:      qrQuietZone,
		BlackChar:      " ",
		WhiteChar:      "█",
		BlackWhiteChar: "▄",
		WhiteBlackChar: "▀",
	}
	if inverted {
		cfg.BlackChar, cfg.WhiteChar = "█", " "
		cfg.BlackWhiteChar, cfg.WhiteBlackChar = "▀", "▄"
	}
	var b strings.Builder
	cfg.Writer = &b
	qrterminal.GenerateWithConfig(uri, cfg)
	return strings.TrimSuffix(b.String(), "\n"), nil
}
