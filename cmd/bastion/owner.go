// Refuse root where the state belongs to the service user.
package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"syscall"

	"bastion/config"
)

// ownerCheck refuses to run as root when the state directory belongs to
// another user (the package's bastion user): files root would create there
// (the SQLite journal, a rotated audit log) would lock the service out of
// its own state. The admin runs `sudo -u bastion bastion ...` instead.
func ownerCheck(c *config.Config, euid int) error {
	if euid != 0 || c.StateIsURL() {
		return nil
	}
	dir := filepath.Dir(c.State)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil // not created yet: whoever runs first owns it
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	name := fmt.Sprint(st.Uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return &exitError{code: 1, msg: fmt.Sprintf("%s belongs to user %s; run this as that user (sudo -u %s bastion ...) so that the files it writes stay readable by the service", dir, name, name)}
}
