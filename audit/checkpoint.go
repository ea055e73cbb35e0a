// Signed checkpoints: the chain keyed with an ed25519 audit key, so that
// whoever can rewrite the file but does not hold the key cannot recompute
// it unseen, and a tail cut before the last checkpoint is detected.

package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TypeCheckpoint is the record that signs the chain up to the record before
// it: its "sig" is an ed25519 signature of checkpointMessage (its own seq,
// its prev, that is the hash of everything before it, and its time).
const TypeCheckpoint = "audit.checkpoint"

// DefaultCheckpointEvery is how many records may follow a checkpoint before
// Append writes the next one, when Options.Key is set.
const DefaultCheckpointEvery = 100

const pubKeyPrefix = "bastion-audit-ed25519 "

// checkpointMessage is what a checkpoint signs.
func checkpointMessage(seq uint64, prev string, t time.Time) []byte {
	return fmt.Appendf(nil, "bastion audit checkpoint v1\nseq %d\nprev %s\ntime %s\n", seq, prev, t.UTC().Format(time.RFC3339Nano))
}

// KeyID names a public key: "SHA256:" and the unpadded base64 of its hash.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// LoadKey reads the audit signing key at path (PKCS #8 PEM), creating it,
// mode 0600 in a 0700 directory, with its public half in path+".pub", if
// it does not exist. A key file that group or others can read is refused.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s: mode %v: must not be readable by group or others (chmod 600)", path, st.Mode().Perm())
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s: not an ed25519 key", path)
	}
	return priv, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	line := pubKeyPrefix + base64.StdEncoding.EncodeToString(pub) + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, fmt.Errorf("audit key %s.pub: %w", path, err)
	}
	return priv, syncDir(filepath.Dir(path))
}

// LoadPublicKey reads a public key written by LoadKey (path+".pub").
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	b64, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), pubKeyPrefix)
	pub, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit public key %s: want one line %q and the base64 key", path, pubKeyPrefix)
	}
	return ed25519.PublicKey(pub), nil
}

// checkpoint returns the signed checkpoint record chained onto tip.
func (l *Log) checkpoint(tip chainTip) Record {
	r := Record{Seq: tip.Seq + 1, V: Version, Time: l.opt.Now().UTC(), Prev: tip.Hash}
	sig := ed25519.Sign(l.opt.Key, checkpointMessage(r.Seq, r.Prev, r.Time))
	r.Event = Event{Type: TypeCheckpoint, Result: "ok",
		Fields: map[string]string{"key_id": KeyID(l.opt.Key.Public().(ed25519.PublicKey)), "sig": base64.StdEncoding.EncodeToString(sig)},
		Num:    map[string]int64{"covers_seq": int64(tip.Seq)}}
	r.Hash = hashOf(r)
	return r
}

// writeCheckpoint appends a checkpoint onto tip and copies it to
// Options.CheckpointFile. Caller holds both locks.
func (l *Log) writeCheckpoint(size int64, tip chainTip) (int64, chainTip, error) {
	r := l.checkpoint(tip)
	line := encodeLine(r)
	if err := l.write(line, size); err != nil {
		return 0, chainTip{}, err
	}
	l.dirty = false
	if l.opt.CheckpointFile != "" {
		if err := writeFileAtomic(l.opt.CheckpointFile, line); err != nil {
			return 0, chainTip{}, fmt.Errorf("checkpoint file: %w", err)
		}
	}
	return size + int64(len(line)), chainTip{Seq: r.Seq, Hash: r.Hash}, nil
}

// Checkpoint appends a signed checkpoint now if records were appended
// through this Log since its last one. It does nothing without Options.Key.
func (l *Log) Checkpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return ErrClosed
	}
	if l.opt.Key == nil || !l.dirty {
		return nil
	}
	return l.locked(func() error {
		size, tip, err := l.activeTail()
		if err != nil {
			return err
		}
		_, _, err = l.writeCheckpoint(size, tip)
		return err
	})
}

// writeFileAtomic replaces name with data: temp file, fsync, rename, fsync dir.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(filepath.Dir(name))
}

// ReadCheckpoint reads a checkpoint file (or a copy shipped off the host):
// the stored line of the latest checkpoint record.
func ReadCheckpoint(path string) (Record, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Record{}, fmt.Errorf("audit checkpoint: %w", err)
	}
	r, err := ParseRecord(raw)
	if err == nil && (r.Type != TypeCheckpoint || hashOf(r) != r.Hash) {
		err = errors.New("not an intact checkpoint record")
	}
	if err != nil {
		return Record{}, fmt.Errorf("audit checkpoint %s: %w", path, err)
	}
	return r, nil
}

// checkSig reports whether checkpoint r is signed by pub.
func checkSig(r Record, pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(r.Fields["sig"])
	return err == nil && ed25519.Verify(pub, checkpointMessage(r.Seq, r.Prev, r.Time), sig)
}
