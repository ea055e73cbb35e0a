// Issue 4: the audit log as an operator reviews it after real sessions.
package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

type auditRec struct {
	Seq    uint64    `json:"seq"`
	V      int       `json:"v"`
	Time   string    `json:"time"`
	Type   string    `json:"type"`
	User   string    `json:"user"`
	Source string    `json:"source"`
	Target string    `json:"target"`
	Result string    `json:"result"`
	ConnID string    `json:"conn_id"`
	Fields fieldText `json:"fields"`
}

// fieldText reads a record's "fields": text as is, numbers (which the
// record stores as JSON numbers) in decimal.
type fieldText map[string]string

func (f *fieldText) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = fieldText{}
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v) // a number
		}
		(*f)[k] = s
	}
	return nil
}

func (w *world) auditRecords(args ...string) []auditRec {
	out := w.mustCLI("", append([]string{"audit", "--json"}, args...)...)
	var recs []auditRec
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		// With a PostgreSQL state every replica's records are merged and
		// each line is {"replica": ..., "record": {...}}.
		var wrapped struct {
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal([]byte(line), &wrapped); err != nil {
			w.t.Fatalf("bad audit JSON %q: %v", line, err)
		}
		raw := []byte(line)
		if wrapped.Record != nil {
			raw = wrapped.Record
		}
		var r auditRec
		if err := json.Unmarshal(raw, &r); err != nil {
			w.t.Fatalf("bad audit JSON %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func types(recs []auditRec) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// inOrder reports whether want appears as a subsequence of got.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestAuditTrail(t *testing.T) {
	w := newWorld(t, worldOpts{})
	w.start()
	mia := w.newClient("mia")
	mia.add("--group", "ops")
	mia.importTOTP()

	const payload = 1_000_000
	mia.answerGood()
	out, err := mia.jump("pve1", "head -c "+strconv.Itoa(payload)+" /dev/zero")
	if err != nil {
		t.Fatalf("jump: %v", err)
	}
	if len(out) < payload {
		t.Fatalf("got %d bytes through the jump, want %d", len(out), payload)
	}
	mia.answer("wrong", "000000")
	if _, err := mia.jump("pve1", "true"); err == nil {
		t.Fatal("wrong password accepted")
	}
	w.stop() // server.stop, and every close event flushed

	recs := w.auditRecords("--user", "mia")
	got := types(recs)
	want := []string{"admin.user.add", "admin.user.import-otp",
		"auth.publickey", "auth.password", "auth.otp", "login.success", "jump.open", "jump.close", "conn.close",
		"auth.publickey", "auth.password", "login.failure"}
	if !inOrder(got, want) {
		t.Fatalf("audit events for mia:\n%v\nwant in order:\n%v", got, want)
	}
	for _, r := range recs {
		switch r.Type {
		case "admin.user.add":
			if r.Fields["os_user"] == "" {
				t.Errorf("admin action without the OS user: %+v", r)
			}
		case "auth.publickey":
			if !strings.HasPrefix(r.Fields["fingerprint"], "SHA256:") || r.Source == "" || r.ConnID == "" {
				t.Errorf("publickey event lacks fingerprint, source or conn_id: %+v", r)
			}
		case "jump.open":
			if r.Target != "pve1" || r.Fields["dest"] != w.backendAddr {
				t.Errorf("jump.open: %+v", r)
			}
		case "jump.close":
			down, _ := strconv.Atoi(r.Fields["bytes_down"])
			up, _ := strconv.Atoi(r.Fields["bytes_up"])
			// The jump carries the inner SSH session: the payload plus a few KiB of protocol.
			if down < payload || down > payload+256<<10 || up <= 0 || up > 64<<10 {
				t.Errorf("jump.close byte counts up=%d down=%d for a %d-byte download", up, down, payload)
			}
			if ms, err := strconv.Atoi(r.Fields["duration_ms"]); err != nil || ms < 0 {
				t.Errorf("jump.close without duration: %+v", r)
			}
		case "login.failure":
			if r.Fields["reason"] != "wrong password" || r.Result != "fail" {
				t.Errorf("login.failure: %+v", r)
			}
		}
		for _, v := range r.Fields {
			if strings.Contains(v, mia.password) || strings.Contains(v, mia.secret) {
				t.Fatalf("a secret leaked into the audit log: %+v", r)
			}
		}
	}

	// Issue 13 #5: numbers are JSON numbers, durations milliseconds, times RFC 3339.
	raw := w.mustCLI("", "audit", "--json", "--type", "jump.close")
	if !regexp.MustCompile(`"v":2,"time":"\d{4}-\d\d-\d\dT[0-9:.]+Z".*"bytes_down":\d+,"bytes_up":\d+,"dest":"[^"]+","duration_ms":\d+,`).MatchString(raw) {
		t.Errorf("jump.close is not typed JSON:\n%s", raw)
	}

	// The operator's question: who jumped to pve1, from where, how long, how many bytes.
	table := w.mustCLI("", "audit", "--target", "pve1", "--type", "jump.close", "--since", "1h")
	mustContain(t, "audit table", table, "SEQ", "jump.close", "mia", "127.0.0.1", "pve1", "bytes_down=")
	failed := w.mustCLI("", "audit", "--failed", "--user", "mia")
	mustContain(t, "--failed", failed, "login.failure")
	mustNotContain(t, "--failed", failed, "login.success")

	mustContain(t, "verify", w.mustCLI("", "audit", "verify"), "intact")
	// Tamper: change mia's jump target in the file; verify must name the line.
	log := filepath.Join(w.dir, "state", "audit.log")
	data, _ := os.ReadFile(log)
	tampered := strings.Replace(string(data), `"target":"pve1"`, `"target":"pve2"`, 1)
	os.WriteFile(log, []byte(tampered), 0o600)
	out, err = w.cli("", "audit", "verify")
	if err == nil {
		t.Fatalf("verify passed a tampered log:\n%s", out)
	}
	mustContain(t, "verify after tampering", out, "broken at", "line")
}

func TestServerRefusesWithoutStateKey(t *testing.T) {
	w := newWorld(t, worldOpts{})
	nia := w.newClient("nia")
	nia.add("--group", "ops")
	nia.importTOTP()
	key := filepath.Join(w.dir, "state", "state.key")
	os.Rename(key, key+".bak")
	out, err := w.cli("", "serve")
	if err == nil {
		t.Fatalf("serve started without its state key:\n%s", out)
	}
	mustContain(t, "serve without key", out, "refusing to start", "state key")
	os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	out, err = w.cli("", "serve")
	if err == nil {
		t.Fatalf("serve started with a wrong state key:\n%s", out)
	}
	mustContain(t, "serve with wrong key", out, "refusing to start", "does not match")
	// The real key restores everything: nia logs in with her imported secret.
	os.Rename(key+".bak", key)
	w.start()
	nia.answerGood()
	if out, err := nia.jump("pve1", "true"); err != nil {
		t.Fatalf("login after restoring the key: %v\n%s", err, out)
	}
}

func TestMalformedConfigRefused(t *testing.T) {
	w := newWorld(t, worldOpts{authExtra: `max_auth_tries = "six"`})
	out, err := w.cli("", "serve")
	if err == nil {
		t.Fatalf("serve started with a malformed config:\n%s", out)
	}
	mustContain(t, "error", out, "max_auth_tries", "config.toml")
}

func TestCorruptStateFile(t *testing.T) {
	w := newWorld(t, worldOpts{})
	olga := w.newClient("olga")
	olga.add("--group", "ops")
	olga.importTOTP()
	db := filepath.Join(w.dir, "state", "bastion.db")
	good, _ := os.ReadFile(db)
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	// Overwrite the header and first pages with garbage, as a bad disk might.
	bad := append([]byte(strings.Repeat("garbage!", 512)), good[4096:]...)
	os.WriteFile(db, bad, 0o600)
	out, err := w.cli("", "user", "list")
	if err == nil {
		t.Fatalf("user list on a corrupt state file succeeded:\n%s", out)
	}
	mustContain(t, "user list", out, "bastion.db")
	out, err = w.cli("", "serve")
	if err == nil {
		t.Fatalf("serve on a corrupt state file started:\n%s", out)
	}
	mustContain(t, "serve", out, "refusing to start", "bastion.db")
	// The intact copy restores everything: nothing else was touched.
	os.WriteFile(db, good, 0o600)
	w.start()
	olga.answerGood()
	if out, err := olga.jump("pve1", "true"); err != nil {
		t.Fatalf("login with the restored state: %v\n%s", err, out)
	}
}
