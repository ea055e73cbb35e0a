// `bastion target trust NAME`: pin a backend's host key after the operator
// checked its fingerprint.
package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/config"
	"bastion/session"
)

func targetCmd(e *env, args []string) error {
	if len(args) == 0 || args[0] != "trust" {
		return &exitError{code: 2, msg: "target: want `target trust NAME [--fingerprint SHA256:...]`"}
	}
	fs := flag.NewFlagSet("target trust", flag.ContinueOnError)
	want := fs.String("fingerprint", "", "the SHA256:... fingerprint to accept without asking")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "target trust: want one target NAME"}
	}
	i := slices.IndexFunc(e.cfg.Targets, func(t config.Target) bool { return t.Name == pos[0] })
	if i < 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("no target %q in %s", pos[0], e.cfgPath)}
	}
	t := e.cfg.Targets[i]
	if t.HostKey != "" {
		return &exitError{code: 1, msg: fmt.Sprintf("target %s pins its key with host_key in the config; change it there", t.Name)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Upstream.DialTimeout+5*time.Second)
	defer cancel()
	key, err := session.FetchHostKey(ctx, t.Address, e.cfg.Upstream.DialTimeout)
	if err != nil {
		return err
	}
	fp := ssh.FingerprintSHA256(key)
	fmt.Fprintf(e.stdout, "%s (%s) presents %s %s\n", t.Name, t.Address, key.Type(), fp)
	switch {
	case *want != "":
		if subtle.ConstantTimeCompare([]byte(*want), []byte(fp)) != 1 {
			return &exitError{code: 1, msg: fmt.Sprintf("fingerprint mismatch: %s presents %s, not %s; nothing stored", t.Name, fp, *want)}
		}
	default:
		fmt.Fprintf(e.stdout, "Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub` on the host. Trust it? Type yes: ", keyFile(key))
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return &exitError{code: 1, msg: "not confirmed; nothing stored"}
		}
	}
	if err := (session.KnownHosts{Path: e.cfg.Upstream.KnownHosts}).Trust(t.Name, key); err != nil {
		return fmt.Errorf("store host key: %w", err)
	}
	if err := appendCLI(e.cfg, audit.Event{Type: "target.trust", Result: "ok", Target: t.Name,
		Fields: map[string]string{"dest": t.Address, "fingerprint": fp, "key_type": key.Type(), "os_user": osUser()}}); err != nil {
		return fmt.Errorf("the key was stored but could not be written to the audit log: %w", err)
	}
	fmt.Fprintf(e.stdout, "stored: recorded sessions to %s now require this key\n", t.Name)
	return nil
}

func keyFile(k ssh.PublicKey) string {
	switch k.Type() {
	case ssh.KeyAlgoED25519:
		return "ed25519"
	case ssh.KeyAlgoRSA:
		return "rsa"
	default:
		return "ecdsa"
	}
}
