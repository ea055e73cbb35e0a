package enroll

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const testURI = "otpauth://totp/Bastion%20%28bastion.example.org%29:bob?secret=JBSWY3DPEHPK3PXP&issuer=Bastion+%28bastion.example.org%29&algorithm=SHA1&digits=6&period=30"

// termMargin is how many modules of plain terminal background
// halfBlocksToImage draws around the text, as a terminal shows the prompt
// surrounded by background (and other text).
const termMargin = 4

// halfBlocksToImage draws half-block text as a terminal would show it. Each
// character cell is 1 module wide and 2 modules tall: '█' inks both halves,
// '▀' the upper, '▄' the lower, ' ' none. With darkBackground the ink is
// white on black, otherwise black on white. Each module becomes scale x scale
// pixels, and a margin of termMargin modules of background surrounds the
// text. Short lines are padded with background. It panics on any other
// character, so a test using it fails loudly.
func halfBlocksToImage(text string, darkBackground bool, scale int) *image.Gray {
	lines := strings.Split(text, "\n")
	cols := 0
	for _, l := range lines {
		cols = max(cols, utf8.RuneCountInString(l))
	}
	ink, bg := color.Gray{Y: 0}, color.Gray{Y: 255}
	if darkBackground {
		ink, bg = bg, ink
	}
	w := (cols + 2*termMargin) * scale
	h := (2*len(lines) + 2*termMargin) * scale
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = bg.Y
	}
	module := func(x, y int) { // x, y in modules, inside the margin
		for dy := range scale {
			for dx := range scale {
				img.SetGray((x+termMargin)*scale+dx, (y+termMargin)*scale+dy, ink)
			}
		}
	}
	for row, l := range lines {
		col := 0
		for _, r := range l {
			upper, lower := false, false
			switch r {
			case '█':
				upper, lower = true, true
			case '▀':
				upper = true
			case '▄':
				lower = true
			case ' ':
			default:
				panic(fmt.Sprintf("halfBlocksToImage: unexpected rune %q at line %d col %d", r, row, col))
			}
			if upper {
				module(col, 2*row)
			}
			if lower {
				module(col, 2*row+1)
			}
			col++
		}
	}
	return img
}

func invertGray(img *image.Gray) *image.Gray {
	out := image.NewGray(img.Rect)
	for i, p := range img.Pix {
		out.Pix[i] = 255 - p
	}
	return out
}

func decodeQR(t *testing.T, img *image.Gray) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("bitmap: %v", err)
	}
	// gozxing v0.1.1 defines DecodeHintType_ALSO_INVERTED but its QR
	// reader ignores it, so callers invert the image themselves.
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

// TestQRDecodesToURI renders the code for both polarities, shows it on a
// simulated dark and light terminal, and decodes it.
//
// Findings: with inverted=false, the dark-background terminal decodes without
// inversion (the light-background one shows a negative image and needs
// inverting); with inverted=true it is the other way round. The test checks
// the polarity directly on the top-left finder pattern and decodes the image
// that has dark modules dark (inverting it first where the terminal shows a
// negative).
func TestQRDecodesToURI(t *testing.T) {
	const scale = 8
	for _, inverted := range []bool{false, true} {
		text, err := RenderQR(testURI, inverted)
		if err != nil {
			t.Fatal(err)
		}
		for _, dark := range []bool{true, false} {
			t.Run(fmt.Sprintf("inverted=%v/darkBackground=%v", inverted, dark), func(t *testing.T) {
				img := halfBlocksToImage(text, dark, scale)
				// The first module past the quiet zone is the corner
				// of the top-left finder pattern: a dark module.
				corner := img.GrayAt((termMargin+qrQuietZone)*scale+scale/2, (termMargin+qrQuietZone)*scale+scale/2).Y
				wantDirect := dark != inverted
				if gotDirect := corner < 128; gotDirect != wantDirect {
					t.Fatalf("finder corner luminance %d: scans without inversion = %v, want %v", corner, gotDirect, wantDirect)
				}
				if !wantDirect {
					img = invertGray(img)
				}
				if got := decodeQR(t, img); got != testURI {
					t.Fatalf("decoded %q, want %q", got, testURI)
				}
			})
		}
	}
}

func TestQRPolaritiesAreComplements(t *testing.T) {
	normal, err := RenderQR(testURI, false)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := RenderQR(testURI, true)
	if err != nil {
		t.Fatal(err)
	}
	flip := strings.NewReplacer("█", " ", " ", "█", "▀", "▄", "▄", "▀")
	if flip.Replace(normal) != inv {
		t.Fatalf("inverted rendering is not the complement of the normal one:\n%s\n---\n%s", normal, inv)
	}
}

func TestQRNoControlChars(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		text, err := RenderQR(testURI, inverted)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(text) {
			t.Fatalf("inverted=%v: invalid UTF-8", inverted)
		}
		for i, r := range text {
			if r == '\n' {
				continue
			}
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("inverted=%v: control char %U at byte %d", inverted, r, i)
			}
		}
		if strings.HasSuffix(text, "\n") {
			t.Errorf("inverted=%v: trailing newline", inverted)
		}
	}
}

func TestQRSize(t *testing.T) {
	// A 160-bit secret is 32 base32 characters.
	uri := "otpauth://totp/Bastion%20%28bastion.example.org%29:alice.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Bastion+%28bastion.example.org%29&algorithm=SHA1&digits=6&period=30"
	text, err := RenderQR(uri, false)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	width := utf8.RuneCountInString(lines[0])
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n != width {
			t.Fatalf("line %d has %d columns, line 0 has %d", i, n, width)
		}
	}
	t.Logf("%d lines x %d columns", len(lines), width)
	if len(lines) > 35 || width > 70 {
		t.Fatalf("QR is %d lines x %d columns, want at most 35 x 70", len(lines), width)
	}
	// The quiet zone: the top line is all light modules.
	if strings.Trim(lines[0], "█") != "" {
		t.Errorf("top line is not quiet zone: %q", lines[0])
	}
}

func TestQRTooLong(t *testing.T) {
	if _, err := RenderQR(strings.Repeat("x", 4000), false); err == nil {
		t.Fatal("no error for a payload too long for a QR code")
	}
	if _, err := RenderQR("", false); err == nil {
		t.Fatal("no error for an empty payload")
	}
}

func TestQRGolden(t *testing.T) {
	text, err := RenderQR(testURI, false)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "qr.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./enroll/ -run TestQRGolden -update)", err)
	}
	if text+"\n" != string(want) {
		t.Fatalf("rendering differs from %s:\n%s", golden, text)
	}
}
