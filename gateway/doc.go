// Package gateway is the SSH server of the bastion: it accepts connections,
// runs the authentication chain (publickey proven by signature, then the
// keyboard-interactive second factor in package kbdint), and serves the only
// channels a jump host needs: direct-tcpip to an allowed target, and a
// session that prints the user's targets and exits.
//
// Invariants:
//   - Identity (user, key fingerprint, groups) is read only from the
//     Permissions returned by the final auth step, never from a key query.
//   - No channel and no global request is served before the whole chain
//     succeeded (x/crypto/ssh enforces this; we add nothing before it).
//   - Every connection has a login grace deadline; every dial has a timeout.
//   - A panic in one connection is recovered and closes only that connection.
package gateway
