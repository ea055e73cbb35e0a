// Package audit owns the gateway's audit log: an append-only, hash-chained,
// tamper-evident record of security events, stored as JSON Lines.
//
// Every record carries a sequence number, a UTC time, the hash of the record
// before it (Prev) and its own hash (Hash, the SHA-256 of its canonical JSON
// encoding without the Hash field). Editing, deleting, inserting or reordering
// a record breaks the chain, and Verify names the first break.
//
// The log may be appended to by several processes at once (the server and the
// admin CLI). Appends are serialized by an advisory flock on the sidecar file
// path+".lock" and, inside one process, by a mutex; under the lock the writer
// re-reads the last record of the active file, so the chain never forks.
// Every append is written and fsynced before Append returns, and every failure
// is returned: callers fail closed. When the active file would grow past
// Options.MaxSize it is renamed to path.N (N = 1, 2, ...; oldest lowest) and the
// chain continues in a fresh file.
//
// Append bounds every string of an Event and makes it valid UTF-8 before it
// is hashed (see sanitize.go), so it never writes a record ParseRecord
// rejects; an over-long value is cut with a marker, never dropped. When the
// tail cannot be chained onto (a torn write, a damaged or edited last
// record), Append does not fail for ever: it seals the damaged stretch with
// an audit.recovered record naming the file, offset, length and SHA-256 of
// the bytes it skips, leaves those bytes in place, and continues the chain.
// Verify accepts a stretch only when its seal matches, and reports it.
//
// What the package must never do: log through slog, drop or reorder a record,
// return success for a record that was not fsynced, or print a stored string to
// a terminal without neutralising control characters (see WriteTable).
//
// Limits: the chain is unkeyed, so it proves integrity only relative to a hash
// kept elsewhere; someone who can rewrite the whole file can recompute every
// hash, and cutting whole records off the end leaves a valid shorter chain.
// Ship the latest Hash off the host (or to a remote syslog) to anchor it.
// Deleting the oldest rotated files also makes Verify report a break, because
// the first record it reads is no longer seq 1.
package audit
