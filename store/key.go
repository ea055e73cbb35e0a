// State key: the 32-byte file that encrypts OTP secrets (AES-256-GCM) and keys
// the hashes of recovery codes and enrollment tokens (HMAC-SHA256).
package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadKey reports a state key that does not match the state file.
var ErrBadKey = errors.New("state key does not match the state file")

type stateKey struct {
	aead    cipher.AEAD
	hmacKey []byte
	check   string
}

// loadOrCreateKey reads the key file, creating it (mode 0600) when create is set and it is missing.
func loadOrCreateKey(path string, create bool) (*stateKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		raw = make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create state key %s: %w", path, err)
		}
		_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
		if err2 := f.Sync(); err == nil {
			err = err2
		}
		if err2 := f.Close(); err == nil {
			err = err2
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write state key %s: %w", path, err)
		}
		return newStateKey(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("read state key %s: %w", path, err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	dec, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(dec) != 32 {
		return nil, fmt.Errorf("state key %s: want 64 hex characters", path)
	}
	return newStateKey(dec)
}

func newStateKey(raw []byte) (*stateKey, error) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, raw)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("bastion otp secret encryption"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &stateKey{aead: aead, hmacKey: derive("bastion code hashing")}
	k.check = k.mac("key-check", "", "bastion")
	return k, nil
}

// seal encrypts a secret, binding it to the user name.
func (k *stateKey) seal(user string, secret []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, secret, []byte(user)), nil
}

func (k *stateKey) open(user string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrBadKey
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(user))
	if err != nil {
		return nil, ErrBadKey
	}
	return out, nil
}

// mac is the keyed hash stored for recovery codes and enrollment tokens.
func (k *stateKey) mac(kind, user, value string) string {
	m := hmac.New(sha256.New, k.hmacKey)
	fmt.Fprintf(m, "%s\x00%s\x00%s", kind, user, value)
	return hex.EncodeToString(m.Sum(nil))
}

// checkPrivate refuses a secret file that group or others can read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is accessible by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	return nil
}
