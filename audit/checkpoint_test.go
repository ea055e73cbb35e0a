// Signed checkpoints catch a recomputed chain and a tail cut before the
// last checkpoint; they say how far the tail is covered.

package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func keyedLog(t *testing.T) (*Log, string, VerifyOptions) {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "keys", "audit_ed25519")
	key, err := LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	if again, err := LoadKey(keyPath); err != nil || !again.Equal(key) {
		t.Fatalf("LoadKey does not read back the key it created: %v", err)
	}
	pub, err := LoadPublicKey(keyPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	cpFile := filepath.Join(dir, "keys", "audit.checkpoint")
	path := filepath.Join(dir, "audit.log")
	l, err := Open(path, Options{Now: fakeClock(), Key: key, CheckpointEvery: 5, CheckpointFile: cpFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	appendN(t, l, 12) // checkpoints at seq 6 and 11; seq 12..14 after
	cp, err := ReadCheckpoint(cpFile)
	if err != nil {
		t.Fatal(err)
	}
	return l, path, VerifyOptions{Key: pub, Checkpoint: &cp}
}

func TestCheckpointsSignTheChain(t *testing.T) {
	l, path, vo := keyedLog(t)
	res, err := VerifyWith(path, vo)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Checkpoints != 2 || res.SignedThrough != 11 || res.Unsigned != 3 || res.LastSeq != 14 || vo.Checkpoint.Seq != 11 {
		t.Fatalf("VerifyWith = %+v", res)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil { // nothing new: no second one
		t.Fatal(err)
	}
	if res, _ := VerifyWith(path, vo); !res.OK || res.Checkpoints != 3 || res.SignedThrough != 15 || res.Unsigned != 0 {
		t.Fatalf("after Checkpoint: %+v", res)
	}
	if err := l.Append(Event{Type: TypeCheckpoint}); err == nil {
		t.Fatal("a caller appended an audit.checkpoint record")
	}
}

// rechain recomputes every hash, as someone who can rewrite the file but
// does not hold the key would after an edit.
func rechain(t *testing.T, lines []string) []string {
	tip := chainTip{Hash: zeroHash}
	out := make([]string, len(lines))
	for i, line := range lines {
		r, err := ParseRecord([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		r.Seq, r.Prev = tip.Seq+1, tip.Hash
		r.Hash = hashOf(r)
		out[i] = string(encodeLine(r))
		tip = chainTip{Seq: r.Seq, Hash: r.Hash}
	}
	return out
}

func TestCheckpointsCatchARecomputedChain(t *testing.T) {
	_, path, vo := keyedLog(t)
	lines := readLines(t, path)
	lines[1] = strings.Replace(lines[1], `"user":"alice"`, `"user":"mallory"`, 1)
	writeLines(t, path, rechain(t, lines))
	if res, _ := Verify(path); !res.OK {
		t.Fatalf("the unkeyed chain should not notice a recomputed chain: %+v", res)
	}
	res, err := VerifyWith(path, VerifyOptions{Key: vo.Key})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.BreakSeq != 6 || !strings.Contains(res.Reason, "signature does not verify") {
		t.Fatalf("VerifyWith on a recomputed chain = %+v", res)
	}
	if res, _ := VerifyWith(path, vo); res.OK {
		t.Fatalf("the checkpoint file should not match a recomputed chain: %+v", res)
	}
}

func TestCheckpointsCatchACutTail(t *testing.T) {
	_, path, vo := keyedLog(t)
	lines := readLines(t, path)
	writeLines(t, path, lines[:8]) // cut before the last checkpoint (seq 11)
	res, err := VerifyWith(path, VerifyOptions{Key: vo.Key})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.SignedThrough != 6 || res.Unsigned != 2 {
		t.Fatalf("without the checkpoint file: %+v, want OK, signed through 6, 2 unsigned", res)
	}
	res, _ = VerifyWith(path, vo)
	if res.OK || !strings.Contains(res.Reason, "cut off the end") {
		t.Fatalf("with the checkpoint file: %+v", res)
	}
}

func TestLoadKeyRefusesReadableKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if _, err := LoadKey(p); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKey of a 0644 key = %v", err)
	}
}
