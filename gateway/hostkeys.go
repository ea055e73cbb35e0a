// Host keys: load every key in the host key directory, generating ed25519 and
// ecdsa-p256 keys (mode 0600) on first start.
package gateway

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// LoadHostKeys returns the signers for dir, creating missing default keys.
func LoadHostKeys(dir string) ([]ssh.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("host key dir %s: %w", dir, err)
	}
	var signers []ssh.Signer
	for _, kind := range []string{"ed25519", "ecdsa"} {
		path := filepath.Join(dir, "ssh_host_"+kind+"_key")
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			raw, err = generateHostKey(path, kind)
		}
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("host key %s is accessible by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
		}
		s, err := ssh.ParsePrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

func generateHostKey(path, kind string) ([]byte, error) {
	var priv any
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	}
	block, err := ssh.MarshalPrivateKey(priv, "bastion host key")
	if err != nil {
		return nil, err
	}
	raw := pem.EncodeToMemory(block)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, err
	}
	return raw, nil
}
