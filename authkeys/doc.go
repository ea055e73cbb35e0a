// Package authkeys owns the options of the authorized_keys lines the bastion
// stores for a user: which options it keeps, checking them when an admin adds
// a key, and enforcing them when the key is used. It is a leaf: it never
// touches the store, the network or the audit log.
//
// Kept and enforced: from="pattern-list" (the client address, as OpenSSH
// matches it with UseDNS no: addresses, CIDR blocks, * and ? wildcards, !
// negation) and expiry-time="YYYYMMDD[HHMM[SS]][Z]". Kept because the bastion
// grants none of these anyway: no-pty, no-agent-forwarding,
// no-X11-forwarding, no-user-rc. Every other option (restrict,
// no-port-forwarding, permitopen, command, environment, ...) is refused with
// a message: a bastion key exists only to open jumps, and silently dropping an
// option would widen what the key may do.
package authkeys
