// `bastion ssh-config`: ready-to-paste ~/.ssh/config entries for one user.
package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"bastion/config"
	"bastion/upstream"
)

func sshConfig(e *env, args []string) error {
	fs := flag.NewFlagSet("ssh-config", flag.ContinueOnError)
	host := fs.String("host", "", "the bastion's DNS name or address")
	port := fs.Int("port", 22, "the bastion's SSH port")
	alias := fs.String("alias", "bastion", "the Host alias for the bastion")
	certFile := fs.String("cert-file", "~/.ssh/id_ed25519-cert.pub", "where the user saves `ssh bastion cert` output")
	multiplex := fs.Bool("multiplex", false, "share one authenticated bastion connection (ControlMaster) between ssh, scp and Ansible runs")
	controlPath := fs.String("control-path", "~/.ssh/bastion-%C", "the master's socket (with --multiplex)")
	controlPersist := fs.String("control-persist", "10m", "how long an idle master stays open (with --multiplex)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *host == "" {
		return &exitError{code: 2, msg: "ssh-config: want NAME --host HOST"}
	}
	for _, v := range []string{*controlPath, *controlPersist} {
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return &exitError{code: 2, msg: fmt.Sprintf("ssh-config: %q: want one word without spaces", v)}
		}
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.User(context.Background(), pos[0])
	if err != nil {
		return userErr(pos[0], err)
	}
	w := e.stdout
	fmt.Fprintf(w, "# ~/.ssh/config entries for %s, made by `bastion ssh-config`\n", u.Name)
	if *multiplex {
		fmt.Fprintf(w, "# One login (key, password, code) opens a master connection that later ssh, scp and\n"+
			"# Ansible runs reuse for %s after the last one ends. Open it alone first (parallel\n"+
			"# runs would each log in):  ssh -fN %s    close it:  ssh -O exit %s\n", *controlPersist, *alias, *alias)
	}
	fmt.Fprintf(w, "Host %s\n    HostName %s\n    Port %d\n    User %s\n", *alias, *host, *port, u.Name)
	if *multiplex {
		fmt.Fprintf(w, "    ControlMaster auto\n    ControlPath %s\n    ControlPersist %s\n", *controlPath, *controlPersist)
	}
	fmt.Fprintln(w)
	reachable := upstream.Reachable(e.cfg.Targets, upstream.Identity{User: u.Name, Groups: u.Groups})
	if slices.ContainsFunc(reachable, func(t config.Target) bool { return len(t.Logins) > 0 && t.TargetMode() != config.ModeSession }) {
		fmt.Fprintf(w, "# Backends that trust the bastion's CA need no authorized_keys entry: refresh the\n"+
			"# certificate (valid %s) with:  ssh %s cert > %s\n\n", e.cfg.CertTTLFor(u.Groups), *alias, *certFile)
	}
	for _, t := range reachable {
		switch {
		case t.TargetMode() == config.ModeSession:
			fmt.Fprintf(w, "# %s: recorded sessions only:  ssh -t %s %s\n\n", t.Name, *alias, t.Name)
		case len(t.Logins) > 0:
			fmt.Fprintf(w, "Host %s\n    HostName %s\n    User %s\n    ProxyJump %s\n    CertificateFile %s\n\n", t.Name, t.Name, t.Logins[0], *alias, *certFile)
		default:
			fmt.Fprintf(w, "Host %s\n    HostName %s\n    ProxyJump %s\n\n", t.Name, t.Name, *alias)
		}
	}
	return nil
}
