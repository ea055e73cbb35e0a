package oath

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var rfcSecret = []byte("12345678901234567890")

// RFC 4226 Appendix D.
var rfc4226 = []string{"755224", "287082", "359152", "969429", "338314",
	"254676", "287922", "162583", "399871", "520489"}

func TestCodeRFC4226(t *testing.T) {
	p := Params{Kind: KindHOTP, Secret: rfcSecret}
	for c, want := range rfc4226 {
		if got := Code(p, uint64(c)); got != want {
			t.Errorf("Code(%d) = %s, want %s", c, got, want)
		}
		next, err := VerifyHOTP(p, want, uint64(c))
		if err != nil || next != uint64(c)+1 {
			t.Errorf("VerifyHOTP(%s, %d) = %d, %v", want, c, next, err)
		}
	}
}

func TestVerifyTOTPRFC6238(t *testing.T) {
	p := Params{Kind: KindTOTP, Secret: rfcSecret, Digits: 8, Period: 30}
	for _, tc := range []struct {
		unix int64
		code string
		step int64
	}{
		{59, "94287082", 1},
		{1111111109, "07081804", 0x23523EC},
		{1111111111, "14050471", 0x23523ED},
		{1234567890, "89005924", 0x273EF07},
		{2000000000, "69279037", 0x3F940AA},
		{20000000000, "65353130", 0x27BC86AA},
	} {
		now := time.Unix(tc.unix, 0)
		if s := Step(p, now); s != tc.step {
			t.Errorf("Step(%d) = %#x, want %#x", tc.unix, s, tc.step)
		}
		step, err := VerifyTOTP(p, tc.code, now, -1)
		if err != nil || step != tc.step {
			t.Errorf("VerifyTOTP(%s @%d) = %#x, %v", tc.code, tc.unix, step, err)
		}
		if _, err := VerifyTOTP(p, tc.code, now, tc.step); !errors.Is(err, ErrReplayed) {
			t.Errorf("replay @%d: err = %v, want ErrReplayed", tc.unix, err)
		}
	}
}

func TestTOTPWindow(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		window, offset int64
		ok             bool
	}{
		{1, -1, true}, {1, 0, true}, {1, 1, true},
		{1, -2, false}, {1, 2, false},
		{0, 0, true}, {0, -1, false}, {0, 1, false},
		{2, -2, true}, {2, 2, true}, {2, 3, false},
	} {
		p := Params{Kind: KindTOTP, Secret: rfcSecret, Window: int(tc.window)}
		cur := Step(p, now)
		code := Code(p, uint64(cur+tc.offset))
		step, err := VerifyTOTP(p, code, now, 0)
		if tc.ok && (err != nil || step != cur+tc.offset) {
			t.Errorf("window %d offset %d: step %d err %v, want accepted", tc.window, tc.offset, step-cur, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("window %d offset %d: err %v, want ErrInvalid", tc.window, tc.offset, err)
		}
	}
}

func TestTOTPReplay(t *testing.T) {
	p := Params{Kind: KindTOTP, Secret: rfcSecret, Window: 1}
	now := time.Unix(1700000000, 0)
	cur := Step(p, now)
	code := Code(p, uint64(cur))
	step, err := VerifyTOTP(p, code, now, 0)
	if err != nil || step != cur {
		t.Fatalf("first use: %d %v", step, err)
	}
	if _, err := VerifyTOTP(p, code, now, step); !errors.Is(err, ErrReplayed) {
		t.Fatalf("same code again: %v, want ErrReplayed", err)
	}
	// An older step, still inside the window, is replayed too.
	if _, err := VerifyTOTP(p, Code(p, uint64(cur-1)), now, step); !errors.Is(err, ErrReplayed) {
		t.Fatalf("older code: %v, want ErrReplayed", err)
	}
	// The next step is still accepted, at the same wall time and later.
	next := Code(p, uint64(cur+1))
	if s, err := VerifyTOTP(p, next, now, step); err != nil || s != cur+1 {
		t.Fatalf("next step: %d %v", s, err)
	}
	if s, err := VerifyTOTP(p, next, now.Add(30*time.Second), step); err != nil || s != cur+1 {
		t.Fatalf("next step later: %d %v", s, err)
	}
	// A wrong code is ErrInvalid, not ErrReplayed.
	wrong := Code(p, uint64(cur+5)) // not among cur-1..cur+1 for this secret and time
	if _, err := VerifyTOTP(p, wrong, now, step); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong code: %v", err)
	}
}

func TestHOTPLookAhead(t *testing.T) {
	p := Params{Kind: KindHOTP, Secret: rfcSecret, Window: 3}
	const counter = 4
	for _, tc := range []struct {
		c    uint64
		want error
	}{
		{counter, nil}, {counter + 3, nil}, {counter + 4, ErrInvalid}, {counter - 1, ErrInvalid},
	} {
		next, err := VerifyHOTP(p, Code(p, tc.c), counter)
		if !errors.Is(err, tc.want) || (err == nil && next != tc.c+1) {
			t.Errorf("counter %d: next %d err %v, want %v", tc.c, next, err, tc.want)
		}
	}
	p.Window = 0
	if _, err := VerifyHOTP(p, Code(p, counter+1), counter); !errors.Is(err, ErrInvalid) {
		t.Errorf("window 0 look-ahead accepted: %v", err)
	}
}

func TestParamErrors(t *testing.T) {
	now := time.Unix(1700000000, 0)
	if _, err := VerifyTOTP(Params{}, "123456", now, 0); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("empty secret: %v", err)
	}
	if _, err := VerifyHOTP(Params{Secret: rfcSecret, Window: 101}, "123456", 0); err == nil {
		t.Errorf("huge window accepted")
	}
	if _, err := VerifyTOTP(Params{Secret: rfcSecret, Digits: 7}, "1234567", now, 0); !errors.Is(err, ErrFormat) {
		t.Errorf("7 digits: %v", err)
	}
	if Code(Params{Secret: rfcSecret, Digits: 7}, 0) != "" {
		t.Errorf("Code with 7 digits not empty")
	}
}

func TestStepBeforeEpoch(t *testing.T) {
	p := Params{}
	for unix, want := range map[int64]int64{0: 0, 29: 0, 30: 1, -1: -1, -30: -1, -31: -2} {
		if got := Step(p, time.Unix(unix, 0)); got != want {
			t.Errorf("Step(%d) = %d, want %d", unix, got, want)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for _, tc := range []struct {
		in     string
		digits int
		want   string
	}{
		{"123456", 0, "123456"},
		{"123456", 6, "123456"},
		{" 123 456\r\n", 6, "123456"},
		{"12345678", 8, "12345678"},
		{"12345", 6, ""},
		{"1234567", 6, ""},
		{"1234567", 8, ""},
		{"123456", 8, ""},
		{"١٢٣٤٥٦", 6, ""},     // Arabic-Indic digits
		{"１２３４５６", 6, ""},     // full-width digits
		{"123\x00456", 6, ""}, // NUL
		{"12345a", 6, ""},
		{"+12345", 6, ""},
		{"", 6, ""},
		{"1234567", 7, ""},
		{strings.Repeat("1", 1<<20), 6, ""},
		{strings.Repeat(" ", 1<<20) + "123456", 6, ""},
	} {
		got, err := NormalizeCode(tc.in, tc.digits)
		name := tc.in
		if len(name) > 20 {
			name = name[:20] + "..."
		}
		if tc.want == "" {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("NormalizeCode(%q, %d) = %q, %v; want ErrFormat", name, tc.digits, got, err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("NormalizeCode(%q, %d) = %q, %v; want %q", name, tc.digits, got, err, tc.want)
		}
	}
}

func TestNormalizeCodeHugeIsCheap(t *testing.T) {
	huge := strings.Repeat("9", 1<<20)
	if n := testing.AllocsPerRun(10, func() { NormalizeCode(huge, 6) }); n != 0 {
		t.Errorf("1 MiB answer allocated %v times", n)
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "12345678", "١٢٣٤٥٦", "\x00", ""} {
		f.Add(s, 6)
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, digits int) {
		got, err := NormalizeCode(s, digits)
		if err != nil {
			return
		}
		d, _ := digitsOf(digits)
		if len(got) != d || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("NormalizeCode(%q, %d) = %q", s, digits, got)
		}
		_ = LooksLikeRecovery(s, digits) // must not panic
		_ = NormalizeRecovery(s)
	})
}

func BenchmarkVerifyTOTP(b *testing.B) {
	p := Params{Kind: KindTOTP, Secret: rfcSecret, Window: 1}
	now := time.Unix(1700000000, 0)
	code := Code(p, uint64(Step(p, now)))
	for b.Loop() {
		if _, err := VerifyTOTP(p, code, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHOTP(b *testing.B) {
	p := Params{Kind: KindHOTP, Secret: rfcSecret, Window: 3}
	code := Code(p, 12)
	for b.Loop() {
		if _, err := VerifyHOTP(p, code, 10); err != nil {
			b.Fatal(err)
		}
	}
}
