// Package passwd hashes and verifies passwords with argon2id in the PHC string
// format ($argon2id$v=19$m=...,t=...,p=...$salt$hash). It never logs and never
// keeps a password after returning.
//
// Verification is bounded: at most MaxConcurrent hashes run at once (each
// holds its m KiB, 19 MiB at the default cost, and a core), later ones wait
// for a slot until their context is done, and once no hash has run for
// FreeAfter the hash memory is given back to the operating system.
package passwd

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Params is the argon2id cost.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// MaxLen bounds the password we hash, so a 1 MiB answer costs nothing extra.
const MaxLen = 1024

const saltLen, keyLen = 16, 32

var b64 = base64.RawStdEncoding

// ErrMalformed reports a stored hash that cannot be parsed.
var ErrMalformed = errors.New("malformed password hash")

// Hash returns the PHC-encoded argon2id hash of password.
func Hash(password string, p Params) (string, error) {
	if len(password) > MaxLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time. It waits for a hashing slot as long as it takes; the server uses
// VerifyContext.
func Verify(encoded, password string) (bool, error) {
	return VerifyContext(context.Background(), encoded, password)
}

// VerifyContext is Verify, waiting for a hashing slot only until ctx is
// done (a login's grace deadline): then it returns ctx's error without
// hashing, and the caller must not count it as a wrong password.
func VerifyContext(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxLen {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("waiting to check the password: %w", context.Cause(ctx))
	}
	release, err := acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("waiting to check the password: %w", err)
	}
	defer release()
	if hashHook != nil {
		hashHook(true)
		defer hashHook(false)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// MaxConcurrent is how many hashes VerifyContext runs at once: one per core
// the Go scheduler uses at start, at most 4. More at once would not finish
// sooner (argon2id with p=1 is one core's work) but would each hold their memory.
func MaxConcurrent() int { return cap(slots) }

// FreeAfter is how long after the last hash ended its memory is returned to
// the operating system (debug.FreeOSMemory: a garbage collection, then the
// free pages go back), so a burst of logins does not stay in the RSS.
const FreeAfter = time.Second

var (
	slots    = make(chan struct{}, min(max(runtime.GOMAXPROCS(0), 1), 4))
	idleMu   sync.Mutex
	inFlight int // hashes waiting or running
	freeT    *time.Timer
	freeOS   = debug.FreeOSMemory // replaced by tests (under idleMu)
	freeWait = FreeAfter          // shortened by tests (under idleMu)
	hashHook func(start bool)     // tests: called around each hash
)

// acquire waits for a hashing slot; release gives it back and, when no other
// hash waits or runs, schedules the memory return.
func acquire(ctx context.Context) (release func(), err error) {
	idleMu.Lock()
	inFlight++
	idleMu.Unlock()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, context.Cause(ctx)
	}
	return func() { <-slots; done() }, nil
}

func done() {
	idleMu.Lock()
	defer idleMu.Unlock()
	inFlight--
	if inFlight > 0 {
		return
	}
	if freeT == nil {
		freeT = time.AfterFunc(freeWait, freeIfIdle)
		return
	}
	freeT.Reset(freeWait)
}

func freeIfIdle() {
	idleMu.Lock()
	idle, free := inFlight == 0, freeOS
	idleMu.Unlock()
	if idle {
		free()
	}
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformed
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > 4<<20 || p.Time < 1 || p.Time > 64 || p.Threads < 1 {
		return p, nil, nil, ErrMalformed
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
