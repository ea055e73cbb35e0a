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
// The chain alone is unkeyed: someone who can rewrite the whole file can
// recompute every hash, and cutting records off the end leaves a valid
// shorter chain. With Options.Key the log signs it: audit.checkpoint records
// carry an ed25519 signature of everything before them, and the latest is
// copied to Options.CheckpointFile; VerifyWith checks the signatures and that
// the log still holds that checkpoint. Records after the last checkpoint are
// covered only by the chain. Retention (Options.RetainAge, RetainSize)
// deletes the oldest rotated files with an audit.pruned record, which Verify
// requires before it accepts a log that does not start at seq 1.
//
// Unauthenticated clients write through a Throttle (bounded bytes per
// connection and per source, the rest counted in preauth.summary records).
// The record format, every event type and its fields are in docs/audit.md.
package audit
