package session

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

func newHostKey(t *testing.T) ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	return k
}

func TestKnownHostsTrustReplacesAndPins(t *testing.T) {
	kh := KnownHosts{Path: filepath.Join(t.TempDir(), "state", "known_hosts")}
	pve1, db := config.Target{Name: "pve1"}, config.Target{Name: "db"}
	if _, err := kh.Keys(pve1); !errors.Is(err, ErrNoHostKey) {
		t.Fatalf("no file: %v, want ErrNoHostKey", err)
	}
	old, newer, dbKey := newHostKey(t), newHostKey(t), newHostKey(t)
	for _, step := range []struct {
		name string
		key  ssh.PublicKey
	}{{"pve1", old}, {"db", dbKey}, {"pve1", newer}} {
		if err := kh.Trust(step.name, step.key); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := kh.Keys(pve1)
	if err != nil || len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) != ssh.FingerprintSHA256(newer) {
		t.Fatalf("pve1 keys %v, %v: want only the newer key", keys, err)
	}
	if keys, _ := kh.Keys(db); len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) != ssh.FingerprintSHA256(dbKey) {
		t.Fatalf("db lost its key: %v", keys)
	}
	if st, _ := os.Stat(kh.Path); st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %04o", st.Mode().Perm())
	}
	// host_key in the config wins over the file.
	pinned := config.Target{Name: "pve1", HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(old)))}
	if keys, _ := kh.Keys(pinned); len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) != ssh.FingerprintSHA256(old) {
		t.Fatalf("host_key not used: %v", keys)
	}
}

func TestPinnedCallback(t *testing.T) {
	good, bad := newHostKey(t), newHostKey(t)
	var mismatch error
	cb, algos := pinned("pve1", []ssh.PublicKey{good}, &mismatch)
	if strings.Join(algos, ",") != ssh.KeyAlgoED25519 {
		t.Errorf("algos %v", algos)
	}
	if err := cb("pve1:22", nil, good); err != nil || mismatch != nil {
		t.Fatalf("pinned key refused: %v", err)
	}
	err := cb("pve1:22", nil, bad)
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Got != ssh.FingerprintSHA256(bad) || mm.Want[0] != ssh.FingerprintSHA256(good) || mismatch == nil {
		t.Fatalf("other key: %v", err)
	}
}
