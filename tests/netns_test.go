// Issue 5 #10, backend side: a backend that vanishes without a FIN or RST
// (its link goes down) is torn down by TCP keepalives within the bound. This
// needs a second network stack: a network namespace with a veth pair, made
// by the test itself (root and iproute2), addresses 10.231.7.0/30 only.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// farBackend starts an sshd inside a new network namespace, reachable from
// here at 10.231.7.2:22, and returns a func that cuts its link silently.
func (w *world) farBackend(t *testing.T) (addr string, cut func()) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "needs iproute2")
	}
	ns := fmt.Sprintf("bastion-e2e-%d", os.Getpid())
	host, peer := fmt.Sprintf("bh%d", os.Getpid()%100000), fmt.Sprintf("bp%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skipOrFail(t, "cannot create a network namespace here: %v %s", err, out)
	}
	t.Cleanup(func() {
		// Every process left in the namespace (sshd and its session children) goes first.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				exec.Command("kill", "-9", pid).Run()
			}
		}
		exec.Command("ip", "netns", "del", ns).Run()
	})
	ip(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	ip(t, "link", "set", peer, "netns", ns)
	ip(t, "addr", "add", "10.231.7.1/30", "dev", host)
	ip(t, "link", "set", host, "up")
	ip(t, "-n", ns, "addr", "add", "10.231.7.2/30", "dev", peer)
	ip(t, "-n", ns, "link", "set", peer, "up")
	ip(t, "-n", ns, "link", "set", "lo", "up")

	conf := w.backendConfig("far", "10.231.7.2", 22)
	cmd := exec.Command("ip", "netns", "exec", ns, sshdPath(), "-D", "-e", "-f", conf)
	var log logBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.WaitDelay = 2 * time.Second // session children may hold the output pipe
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, "10.231.7.2:22", log.String)
	return "10.231.7.2:22", func() { ip(t, "-n", ns, "link", "set", peer, "down") }
}

func TestHalfOpenBackend(t *testing.T) {
	w := newWorld(t, worldOpts{extraConfig: `
[[target]]
name = "far"
address = "10.231.7.2:22"
groups = ["ops"]

[session]
keepalive_interval = "1s"
keepalive_count_max = 2
`})
	_, cut := w.farBackend(t)
	w.start()
	quinn := w.newClient("quinn")
	quinn.add("--group", "ops")
	quinn.importTOTP()
	quinn.answerGood()
	j := quinn.startJump("far", "echo far-ready; sleep 120")
	j.waitFor(t, "far-ready", 20*time.Second)

	cut()
	start := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	var reason string
	for reason == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, r := range w.auditRecords("--user", "quinn", "--type", "jump.close") {
			reason = r.Fields["reason"]
		}
	}
	took := time.Since(start)
	if reason == "" {
		t.Fatal("the jump to a vanished backend was not closed within 30s")
	}
	// Bound: keepalive idle 1s + 2 probes × 1s, plus the kernel's timer granularity.
	if took > 10*time.Second || !strings.Contains(reason, "timed out") {
		t.Fatalf("jump closed after %v with reason %q; want a keepalive timeout within about 3s", took, reason)
	}
	t.Logf("vanished backend: jump closed after %v (%s)", took, reason)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the client's ssh did not end after the backend vanished")
	}
}
