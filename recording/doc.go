// Package recording owns session recordings in asciicast v2, the format
// `asciinema play` reads: a JSON header line, then one JSON array per event,
// [seconds, "o"|"i"|"r"|"m", data].
//
// The Writer appends events as a session runs, flushing complete lines to the
// file at least once a second (a crash loses at most the last second), keeps
// a running SHA-256 and size for the audit log, and enforces a size cap. Files
// are created inside one directory only (os.Root), mode 0600, never replaced.
// The Reader parses a recording strictly and with bounded lines (it reads
// files an attacker's session filled), and Play, Plain and Grep build the
// review commands on it.
//
// The package knows nothing of users, targets or SSH, and never logs.
package recording
