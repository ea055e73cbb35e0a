// Issue 13 #7: the chain is signed with the audit key; `bastion audit verify`
// catches a recomputed chain and a tail cut before the last checkpoint.
package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rehash recomputes every seq/prev/hash of a JSON Lines audit log the way
// someone who can rewrite the file (but has no key) would: independently
// of package audit, from the documented format (docs/audit.md).
func rehash(t *testing.T, lines []string) []string {
	hashRE := regexp.MustCompile(`,"hash":"[0-9a-f]{64}"}$`)
	prevRE := regexp.MustCompile(`"prev":"[0-9a-f]{64}"`)
	prev := strings.Repeat("0", 64)
	out := make([]string, len(lines))
	for i, line := range lines {
		body := hashRE.ReplaceAllString(line, "}")
		body = prevRE.ReplaceAllString(body, `"prev":"`+prev+`"`)
		sum := sha256.Sum256([]byte(body))
		prev = hex.EncodeToString(sum[:])
		out[i] = strings.TrimSuffix(body, "}") + `,"hash":"` + prev + `"}`
	}
	return out
}

func TestAuditKeyCatchesRewrites(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	ann := w.newClient("ann")
	ann.add("--group", "ops")
	ann.importTOTP()
	ann.answerGood()
	if out, err := ann.jump("pve1", "true"); err != nil {
		t.Fatalf("jump: %v\n%s", err, out)
	}
	w.stop() // server.stop, then a checkpoint

	key := filepath.Join(w.dir, "state", "audit_ed25519")
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit key: %v %v", st, err)
	}
	out := w.mustCLI("", "audit", "verify")
	mustContain(t, "verify", out, "signed: ", "0 records after it are not covered", "checkpoint file: seq", "intact")

	log := filepath.Join(w.dir, "state", "audit.log")
	orig, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSuffix(string(orig), "\n"), "\n")
	var last int // index of the last checkpoint
	for i, l := range lines {
		var r struct{ Type string }
		json.Unmarshal([]byte(l), &r)
		if r.Type == "audit.checkpoint" {
			last = i
		}
	}
	if last == 0 {
		t.Fatalf("no audit.checkpoint in the log:\n%s", orig)
	}

	// Rewrite ann's jump target and recompute the chain without the key.
	edited := make([]string, len(lines))
	copy(edited, lines)
	for i, l := range edited {
		if strings.Contains(l, `"target":"pve1"`) {
			edited[i] = strings.Replace(l, `"target":"pve1"`, `"target":"db"`, 1)
			break
		}
	}
	os.WriteFile(log, []byte(strings.Join(rehash(t, edited), "\n")+"\n"), 0o600)
	// Without the key and the checkpoint file the recomputed chain passes: that is the attack.
	os.Rename(filepath.Join(w.dir, "state", "audit.checkpoint"), filepath.Join(w.dir, "shipped.checkpoint"))
	os.Rename(key+".pub", filepath.Join(w.dir, "audit.pub"))
	mustContain(t, "unkeyed verify", w.mustCLI("", "audit", "verify"), "unkeyed", "intact")
	// The signatures alone catch it.
	out, err := w.cli("", "audit", "verify", "--key", filepath.Join(w.dir, "audit.pub"))
	if err == nil || !strings.Contains(out, "signature does not verify") {
		t.Fatalf("verify of a recomputed chain: %v\n%s", err, out)
	}

	// Cut the tail before the last checkpoint: only the checkpoint kept apart sees it.
	os.WriteFile(log, []byte(strings.Join(lines[:last-1], "\n")+"\n"), 0o600)
	out = w.mustCLI("", "audit", "verify", "--key", filepath.Join(w.dir, "audit.pub"))
	mustContain(t, "cut log without the checkpoint file", out, "signed: ", "intact")
	out, err = w.cli("", "audit", "verify", "--key", filepath.Join(w.dir, "audit.pub"), "--checkpoint", filepath.Join(w.dir, "shipped.checkpoint"))
	if err == nil || !strings.Contains(out, "cut off the end") {
		t.Fatalf("verify of a cut log against the shipped checkpoint: %v\n%s", err, out)
	}
}
