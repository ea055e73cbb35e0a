// Tests of the host-key loader: generated keys are private, and a key file
// that group or others can read stops the server from starting.
package gateway

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadHostKeysGeneratesPrivateKeysOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hostkeys")
	first, err := LoadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 {
		t.Fatalf("%d host keys, want ed25519 and ecdsa", len(first))
	}
	for _, kind := range []string{"ed25519", "ecdsa"} {
		st, err := os.Stat(filepath.Join(dir, "ssh_host_"+kind+"_key"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s key mode %04o, want 0600", kind, st.Mode().Perm())
		}
	}
	again, err := LoadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if !bytes.Equal(first[i].PublicKey().Marshal(), again[i].PublicKey().Marshal()) {
			t.Fatalf("host key %d changed on the second start", i)
		}
	}
}

func TestLoadHostKeysRefusesLooseModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hostkeys")
	if _, err := LoadHostKeys(dir); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ed25519", "ecdsa"} {
		path := filepath.Join(dir, "ssh_host_"+kind+"_key")
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602, 0o620} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			signers, err := LoadHostKeys(dir)
			if err == nil {
				t.Fatalf("%s key with mode %04o accepted (%d signers)", kind, mode, len(signers))
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("%s key with mode %04o: error %q does not name the file and the fix", kind, mode, err)
			}
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadHostKeys(dir); err != nil {
			t.Fatalf("%s key back at 0600: %v", kind, err)
		}
	}
}
