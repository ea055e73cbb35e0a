package tests

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeletedUserLosesOpenJump: `bastion user del` on a running server (no
// signal) ends the user's open `ssh -J` session within recheck_interval,
// with the reason in the audit log, and the user cannot come back.
func TestDeletedUserLosesOpenJump(t *testing.T) {
	w, ida := sessionWorld(t, `recheck_interval = "300ms"`)
	ida.answerGood()
	j := ida.startJump("pve1", "echo revoke-open; sleep 30; echo must-not-print")
	j.waitFor(t, "revoke-open", 20*time.Second)
	out := w.mustCLI("", "user", "del", "ida")
	mustContain(t, "user del", out, "deleted ida; their open connections end within 300ms")
	deleted := time.Now()
	out, err := j.wait(t, 15*time.Second)
	if err == nil {
		t.Fatalf("the deleted user's session exited 0:\n%s", out)
	}
	mustNotContain(t, "revoked session", out, "must-not-print")
	t.Logf("open jump ended %v after user del", time.Since(deleted).Round(time.Millisecond))
	reasons := w.waitAudit("conn.close", 1, 10*time.Second)
	if !slices.ContainsFunc(reasons, func(r auditRec) bool { return r.Fields["reason"] == "access revoked: user deleted" }) {
		t.Fatalf("no conn.close with the revocation reason: %+v", reasons)
	}
	ida.answerGood()
	if out, err := ida.jump("pve1", "echo back"); err == nil || strings.Contains(out, "back") {
		t.Fatalf("a deleted user logged in again:\n%s", out)
	}
}
