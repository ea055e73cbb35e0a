// Clients that never try publickey: every auth request passes through
// logAuth (x/crypto's AuthLogCallback), so a client that only sends none,
// password or keyboard-interactive still counts as a failed login (per-source
// penalties) and gets its conn.denied record, within the connection's audit
// budget like every other pre-auth record.
package gateway

import (
	"errors"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"bastion/untrusted"
)

// errNoPublicKey is the recorded reason of a client that never tried a key.
var errNoPublicKey = errors.New("no publickey tried")

// logAuth notes each request the client made before proving a key, by a
// method other than publickey (whose callbacks keep their own state).
func (f *authFlow) logAuth(conn ssh.ConnMetadata, method string, err error) {
	if method == "publickey" || err == nil {
		return
	}
	if _, partial := err.(*ssh.PartialSuccessError); partial {
		return
	}
	f.mu.Lock()
	keyed := f.keyed
	f.mu.Unlock()
	if keyed {
		return // the second factor: counted by secondFactor
	}
	if uerr := untrusted.UserName(conn.User()); uerr != nil {
		f.refuse("refused_user_name", uerr)
		return
	}
	switch method {
	case "none", "password", "keyboard-interactive":
	default:
		method = "other" // the name is the client's: never record it
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.user == "" {
		f.user = conn.User()
	}
	if !slices.Contains(f.otherMethods, method) {
		f.otherMethods = append(f.otherMethods, method)
	}
}

// noKeyReason is the failure reason of a client that tried only other
// methods, or "" when it tried a key (its own reason then stands).
// f.mu must be held.
func (f *authFlow) noKeyReason() string {
	if f.keyed || f.lastErr != nil || len(f.otherMethods) == 0 {
		return ""
	}
	return errNoPublicKey.Error() + " (tried " + strings.Join(f.otherMethods, ",") + ")"
}
