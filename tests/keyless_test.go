package tests

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// keylessScript is a password scanner: it never offers a key, and sends
// password or keyboard-interactive requests although the server lists only
// publickey.
const keylessScript = `import socket, sys, paramiko
host, port, user, method = sys.argv[1:5]
t = paramiko.Transport(socket.create_connection((host, int(port)), timeout=30))
t.start_client(timeout=30)
try:
    if method == "password":
        t.auth_password(user, "hunter2")
    else:
        t.auth_interactive(user, lambda title, instr, prompts: ["hunter2" for _ in prompts])
except paramiko.AuthenticationException as e:
    print("refused:", type(e).__name__)
t.close()
`

// TestKeylessScannerPenalised: clients that only try passwords are failed
// logins for the source's penalty, and audited (within the pre-auth budget)
// with the methods they tried.
func TestKeylessScannerPenalised(t *testing.T) {
	requireTool(t, python3, "paramiko")
	w := newWorld(t, worldOpts{extraConfig: "\n[limits]\npenalty_free_fails = 2\npenalty_base = \"30s\"\n"})
	w.start()
	host, port := w.bastionAddr[:strings.LastIndex(w.bastionAddr, ":")], w.bastionAddr[strings.LastIndex(w.bastionAddr, ":")+1:]
	for _, method := range []string{"password", "keyboard-interactive", "password"} {
		out, err := exec.Command(python3, "-c", keylessScript, host, port, "root", method).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "refused:") {
			t.Fatalf("%s scanner: %v\n%s", method, err, out)
		}
	}
	recs := w.waitAudit("conn.denied", 3, 10*time.Second)
	for i, want := range []string{"no publickey tried (tried password)", "no publickey tried (tried keyboard-interactive)", "no publickey tried (tried password)"} {
		if got := recs[i].Fields["reason"]; got != want || recs[i].User != "root" {
			t.Errorf("conn.denied %d: user %q reason %q, want %q", i, recs[i].User, got, want)
		}
	}
	w.waitAudit("source.penalty", 1, 10*time.Second)
	mustBeRefused(t, "raw connection from the penalised source", dialFrom(t, "127.0.0.1", w.bastionAddr), 2*time.Second)
}
