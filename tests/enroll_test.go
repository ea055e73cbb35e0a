// Issue 3: first-login enrollment in the SSH session, with a QR code.
package tests

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func (c *client) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, name))
	return strings.TrimSpace(string(b))
}

// qrLines returns the half-block lines of a prompt.
func qrLines(prompt string) []string {
	var out []string
	for _, l := range strings.Split(prompt, "\n") {
		if l != "" && strings.Trim(l, " ▀▄█") == "" && strings.ContainsAny(l, "▀▄█") {
			out = append(out, l)
		}
	}
	return out
}

// halfBlocksToPNG draws the QR text as a terminal shows it: on a dark
// background glyph ink is light, on a light background it is dark; each
// cell is 1 module wide and 2 tall.
func halfBlocksToPNG(t *testing.T, lines []string, path string, darkBackground bool) {
	const scale = 6
	bg, ink := color.Gray{Y: 0}, color.Gray{Y: 255}
	if !darkBackground {
		bg, ink = ink, bg
	}
	width := 0
	for _, l := range lines {
		width = max(width, len([]rune(l)))
	}
	const margin = 4
	img := image.NewGray(image.Rect(0, 0, (width+2*margin)*scale, (2*len(lines)+2*margin)*scale))
	for i := range img.Pix { // terminal background everywhere, then the ink
		img.Pix[i] = bg.Y
	}
	for y, l := range lines {
		for x, r := range []rune(l) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy := 0; dy < 2*scale; dy++ {
				inked := top
				if dy >= scale {
					inked = bottom
				}
				if !inked {
					continue
				}
				for dx := 0; dx < scale; dx++ {
					img.SetGray((x+margin)*scale+dx, (2*y+margin)*scale+dy, ink)
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

var uriRe = regexp.MustCompile(`URI: (otpauth://\S+)`)

// stepOf finds the step (near now) whose code is code.
func stepOf(t *testing.T, secret, code string) int64 {
	for s := nowStep() - 2; s <= nowStep()+1; s++ {
		if totp(t, secret, s) == code {
			return s
		}
	}
	t.Fatalf("code %s matches no recent step", code)
	return 0
}

func TestEnrollFirstLogin(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	bob := w.newClient("bob")
	out := bob.add("--group", "ops")
	mustContain(t, "user add", out, "pending")
	mustContain(t, "user list", w.mustCLI("", "user", "list"), "pending")

	bob.answer(bob.password, "")
	res, err := bob.jump("pve1", "echo enrolled-and-jumped")
	if err != nil {
		t.Fatalf("first login with enrollment: %v\n%s\nprompts:\n%s", err, res, bob.prompts())
	}
	mustContain(t, "output", res, "enrolled-and-jumped")
	for _, line := range strings.Split(res, "\n") {
		if strings.TrimSpace(line) == "bob" { // the keyboard-interactive name field, printed by OpenSSH
			t.Errorf("stray line with the user's name in the client output:\n%s", res)
		}
	}

	prompt := bob.file("enroll_prompt")
	secret := bob.file("enroll_secret")
	if len(secret) != 32 {
		t.Fatalf("secret from the prompt is %q, want 32 base32 characters (160 bits)", secret)
	}
	m := uriRe.FindStringSubmatch(prompt)
	if m == nil {
		t.Fatalf("no otpauth URI in the prompt:\n%s", prompt)
	}
	uri := m[1]
	mustContain(t, "uri", uri, "otpauth://totp/", "secret="+secret, "issuer=Bastion", "bob")

	t.Run("QR decodes to the URI", func(t *testing.T) {
		if _, err := exec.LookPath("zbarimg"); err != nil {
			if os.Getenv("BASTION_E2E_REQUIRED") != "" {
				t.Fatal("zbarimg missing (apt-get install zbar-tools)")
			}
			t.Skip("zbarimg missing")
		}
		lines := qrLines(prompt)
		if len(lines) < 15 {
			t.Fatalf("no QR code in the prompt (%d half-block lines):\n%s", len(lines), prompt)
		}
		png := filepath.Join(w.dir, "qr.png")
		halfBlocksToPNG(t, lines, png, true)
		out, err := exec.Command("zbarimg", "-q", "--raw", png).Output()
		if err != nil {
			t.Fatalf("zbarimg could not decode the QR from the prompt: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != uri {
			t.Fatalf("QR decodes to %q, the prompt's URI is %q", got, uri)
		}
	})

	recovery := regexp.MustCompile(`(?m)^\s+\d+\. (\S+)$`).FindAllStringSubmatch(bob.file("recovery_prompt"), -1)
	if len(recovery) != 10 {
		t.Fatalf("want 10 recovery codes shown, got %d:\n%s", len(recovery), bob.file("recovery_prompt"))
	}
	mustContain(t, "user list", w.mustCLI("", "user", "list"), "TOTP")

	enrollCode := bob.file("enroll_code_used")
	step := stepOf(t, secret, enrollCode)
	bob.secret = secret

	t.Run("enrollment code cannot be replayed", func(t *testing.T) {
		bob.answer(bob.password, enrollCode)
		if out, err := bob.jump("pve1", "true"); err == nil {
			t.Fatalf("enrollment code accepted again:\n%s", out)
		}
		if strings.Contains(bob.prompts(), "QR") || strings.Contains(bob.prompts(), "from the app") {
			t.Fatal("an enrolled user was offered enrollment again")
		}
	})
	t.Run("next login with a fresh code", func(t *testing.T) {
		bob.step = step + 1
		bob.answerGood()
		if out, err := bob.jump("pve1", "echo second-login"); err != nil {
			t.Fatalf("second login: %v\n%s", err, out)
		}
		mustContain(t, "prompts", bob.prompts(), "Verification code: ")
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		bob.answer(bob.password, strings.ToUpper(recovery[3][1]))
		if out, err := bob.jump("pve1", "true"); err != nil {
			t.Fatalf("recovery code refused: %v\n%s", err, out)
		}
		mustContain(t, "user show", w.mustCLI("", "user", "show", "bob"), "recovery:    9 unused")
		bob.answer(bob.password, recovery[3][1])
		if out, err := bob.jump("pve1", "echo must-not-run"); err == nil {
			t.Fatalf("recovery code accepted a second time:\n%s", out)
		}
		mustContain(t, "user show", w.mustCLI("", "user", "show", "bob"), "recovery:    9 unused")
		// Another of the codes still works.
		bob.answer(bob.password, recovery[4][1])
		if out, err := bob.jump("pve1", "true"); err != nil {
			t.Fatalf("an unused recovery code refused: %v\n%s", err, out)
		}
	})
}

func TestEnrollAbandonedAndFailed(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	hank := w.newClient("hank")
	hank.add("--group", "ops")

	os.WriteFile(filepath.Join(hank.dir, "enroll_code"), []byte("abandon\n"), 0o600)
	hank.answer(hank.password, "")
	if out, err := hank.jump("pve1", "true"); err == nil {
		t.Fatalf("abandoned enrollment logged in:\n%s", out)
	}
	show := w.mustCLI("", "user", "show", "hank")
	mustContain(t, "user show after abandon", show, "2fa:         pending", "recovery:    0 unused")

	os.WriteFile(filepath.Join(hank.dir, "enroll_code"), []byte("000000\n"), 0o600)
	hank.answer(hank.password, "")
	out, err := hank.jump("pve1", "true")
	if err == nil {
		t.Fatalf("wrong enrollment codes logged in:\n%s", out)
	}
	if n := strings.Count(hank.prompts(), "Verification code from the app"); n != 3 {
		t.Fatalf("want 3 enrollment tries (max_tries), saw %d", n)
	}
	mustContain(t, "user show after failed codes", w.mustCLI("", "user", "show", "hank"), "2fa:         pending")

	// Afterwards a correct enrollment still works: nothing was half-stored.
	os.Remove(filepath.Join(hank.dir, "enroll_code"))
	if out, err := hank.jump("pve1", "echo ok-now"); err != nil {
		t.Fatalf("enrollment after failures: %v\n%s", err, out)
	}
	audit := w.mustCLI("", "audit", "--user", "hank", "--type", "enroll")
	mustContain(t, "audit", audit, "enroll.offered", "enroll.abandoned", "enroll.failed", "enroll.confirmed")
}

func TestEnrollWindowExpired(t *testing.T) {
	w := newWorld(t, worldOpts{enrollExtra: `enroll_window = "1ns"`})
	w.start()
	ivy := w.newClient("ivy")
	ivy.add("--group", "ops")
	ivy.answer(ivy.password, "")
	out, err := ivy.jump("pve1", "true")
	if err == nil {
		t.Fatalf("enrolled outside the window:\n%s", out)
	}
	mustContain(t, "refusal", out, "enrollment window has expired", "reset-otp")
	if strings.Contains(ivy.prompts(), "from the app") {
		t.Fatal("a secret was shown outside the enrollment window")
	}
	mustContain(t, "user list", w.mustCLI("", "user", "list"), "pending (expired)")
}

func TestEnrollAdminPolicy(t *testing.T) {
	w := newWorld(t, worldOpts{enrollExtra: `policy = "admin"`})
	w.start()
	jo := w.newClient("jo")
	jo.add("--group", "ops")
	jo.answer(jo.password, "")
	out, err := jo.jump("pve1", "true")
	if err == nil {
		t.Fatalf("self-enrolled under the admin policy:\n%s", out)
	}
	mustContain(t, "refusal", out, "self-enrollment is disabled")
}

var tokenRe = regexp.MustCompile(`enrollment token \(give it to the user; shown once\): (\S+)`)

func TestEnrollTokenPolicy(t *testing.T) {
	w := newWorld(t, worldOpts{enrollExtra: `policy = "token"`})
	w.start()
	kim := w.newClient("kim")
	m := tokenRe.FindStringSubmatch(kim.add("--group", "ops", "--enroll-token"))
	if m == nil {
		t.Fatal("user add --enroll-token printed no token")
	}
	token := m[1]
	kim.answer(kim.password, "")
	tokenFile := filepath.Join(kim.dir, "token")

	os.WriteFile(tokenFile, []byte("wrong-token\n"), 0o600)
	out, err := kim.jump("pve1", "true")
	if err == nil {
		t.Fatalf("enrolled with a wrong token:\n%s", out)
	}
	mustContain(t, "refusal", out, "enrollment token is not valid")
	if strings.Contains(kim.prompts(), "from the app") {
		t.Fatal("secret shown before a valid token")
	}

	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	if out, err := kim.jump("pve1", "echo token-ok"); err != nil {
		t.Fatalf("enrollment with the right token: %v\n%s", err, out)
	}

	// Reset without a token: the old token is spent and cannot be reused.
	w.mustCLI("", "user", "reset-otp", "kim")
	os.Remove(filepath.Join(kim.dir, "enroll_prompt"))
	out, err = kim.jump("pve1", "true")
	if err == nil {
		t.Fatalf("re-enrolled with a spent token:\n%s", out)
	}
	mustContain(t, "refusal", out, "needs a token")
	if _, err := os.Stat(filepath.Join(kim.dir, "enroll_prompt")); err == nil {
		t.Fatal("secret shown with a spent token")
	}
}

func TestEnrollConcurrentFirstLogins(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	lee := w.newClient("lee")
	lee.add("--group", "ops")
	twin := *lee
	twin.dir = filepath.Join(w.dir, "answers_lee_twin")
	os.MkdirAll(twin.dir, 0o700)
	lee.answer(lee.password, "")
	twin.answer(lee.password, "")

	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([]string, 2)
	for i, c := range []*client{lee, &twin} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = c.jump("pve1", "echo in")
		}()
	}
	wg.Wait()
	ok := 0
	var winner *client
	for i, c := range []*client{lee, &twin} {
		if errs[i] == nil {
			ok++
			winner = c
		}
	}
	if ok != 1 {
		t.Fatalf("want exactly one of two concurrent first logins to enroll, got %d:\n%s\n---\n%s", ok, outs[0], outs[1])
	}
	// The bound secret is the winner's: a code from it works.
	secret := winner.file("enroll_secret")
	winner.secret = secret
	winner.step = stepOf(t, secret, winner.file("enroll_code_used")) + 1
	winner.answerGood()
	if out, err := winner.jump("pve1", "true"); err != nil {
		t.Fatalf("the winner's secret does not work: %v\n%s", err, out)
	}
}

// With qr_inverted the QR is drawn for light-background terminals.
func TestEnrollQRForLightTerminals(t *testing.T) {
	if _, err := exec.LookPath("zbarimg"); err != nil {
		if os.Getenv("BASTION_E2E_REQUIRED") != "" {
			t.Fatal("zbarimg missing (apt-get install zbar-tools)")
		}
		t.Skip("zbarimg missing")
	}
	w := newWorld(t, worldOpts{enrollExtra: "qr_inverted = true"})
	w.start()
	pat := w.newClient("pat")
	pat.add("--group", "ops")
	pat.answer(pat.password, "")
	if out, err := pat.jump("pve1", "true"); err != nil {
		t.Fatalf("enrollment: %v\n%s", err, out)
	}
	prompt := pat.file("enroll_prompt")
	uri := uriRe.FindStringSubmatch(prompt)[1]
	for _, dark := range []bool{false, true} {
		png := filepath.Join(w.dir, fmt.Sprintf("qr-dark-%v.png", dark))
		halfBlocksToPNG(t, qrLines(prompt), png, dark)
		out, err := exec.Command("zbarimg", "-q", "--raw", png).Output()
		got := strings.TrimSpace(string(out))
		if !dark && (err != nil || got != uri) {
			t.Fatalf("inverted QR on a light background: %q, %v; want %q", got, err, uri)
		}
		// The same drawing on a dark background is a negative, which
		// zbarimg (like most phone scanners) does not read: if it does,
		// qr_inverted changed nothing.
		if dark && err == nil {
			t.Fatalf("the inverted QR also decodes on a dark background (%q): qr_inverted had no effect", got)
		}
	}
}
