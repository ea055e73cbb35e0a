package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A large download through a real OpenSSH `ssh -J` keeps its checksum: the
// jump's socket I/O (sockio.Conn under the bastion's SSH server: raw reads and
// writes, split AES-GCM packets merged into one writev) must neither lose,
// duplicate nor reorder a byte, nor stall a stock client waiting on its
// window. Default ciphers, as users run it.
func TestLargeDownloadThroughJump(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	dl := w.newClient("dana")
	dl.add("--group", "ops")
	dl.importTOTP()

	const size = 40<<20 + 4321 // many channel windows, not a multiple of a packet
	data := make([]byte, size)
	var x uint32 = 2463534242
	for i := range data { // xorshift: incompressible, position-dependent
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	src := filepath.Join(w.dir, "download.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)

	dl.answerGood()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", dl.config, "-J", dl.jumpSpec(), w.backendUser+"@pve1", "cat "+src)
	cmd.Env = dl.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, copyErr := io.Copy(h, stdout)
	if err := cmd.Wait(); err != nil || copyErr != nil {
		t.Fatalf("ssh -J: %v %v (after %d bytes)\n%s", err, copyErr, n, stderr.String())
	}
	if n != size {
		t.Fatalf("got %d bytes through the jump, want %d", n, size)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the download through the jump differs from the file (same length, other bytes)")
	}
}
