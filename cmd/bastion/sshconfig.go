// `bastion ssh-config`: ready-to-paste ~/.ssh/config entries for one user.
package main

import (
	"context"
	"flag"
	"fmt"

	"bastion/store"
	"bastion/upstream"
)

func sshConfig(e *env, args []string) error {
	fs := flag.NewFlagSet("ssh-config", flag.ContinueOnError)
	host := fs.String("host", "", "the bastion's DNS name or address")
	port := fs.Int("port", 22, "the bastion's SSH port")
	alias := fs.String("alias", "bastion", "the Host alias for the bastion")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *host == "" {
		return &exitError{code: 2, msg: "ssh-config: want NAME --host HOST"}
	}
	st, err := store.Open(e.cfg.State, e.cfg.StateKey)
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
	fmt.Fprintf(w, "Host %s\n    HostName %s\n    Port %d\n    User %s\n\n", *alias, *host, *port, u.Name)
	for _, t := range upstream.Reachable(e.cfg.Targets, upstream.Identity{User: u.Name, Groups: u.Groups}) {
		fmt.Fprintf(w, "Host %s\n    HostName %s\n    ProxyJump %s\n\n", t.Name, t.Name, *alias)
	}
	return nil
}
