// Package session owns recorded sessions: `ssh -t alice@bastion pve1` and
// `ssh alice@bastion root@pve1 CMD`. It parses `[login@]target [cmd]`,
// connects to the backend itself as the login with a fresh in-memory key and
// a short-lived certificate from package ca, verifies the backend's host key
// against the pinned one (never trust on first use), pumps the session
// channel (pty, window changes, signals, EOF, exit status) while package
// recording writes it down, and audits session.open and session.close with
// the recording's SHA-256 and size. It also serves `ssh alice@bastion cert`.
//
// It must never: dial a backend whose host key is not pinned, forward an
// agent, X11 or a port on these sessions, take identity from anything but
// the Request the gateway built from the final Permissions, or let bytes
// flow before session.open is in the audit log.
package session
