// Package store owns bastion's persistent state: users, their keys, password
// hashes, OTP secrets (encrypted at rest with the state key), recovery codes
// (stored as keyed hashes) and lockout counters, in an embedded SQLite file or
// a PostgreSQL database shared by replicas. One API serves both; the SQL that
// differs is in dialect.go, the schema in versioned migrations embedded in the
// binary (one goose history for both dialects).
//
// Every state change is one transaction or one conditional statement, so a
// crash or a full disk never loses a secret, and every check-and-consume (OTP
// step, HOTP counter, recovery code, first enrollment) is atomic under SQLite's
// single writer and under PostgreSQL's READ COMMITTED: of two concurrent logins
// with the same code, on one replica or two, exactly one succeeds. The lockout
// is checked, and failures counted, in the same statement as the code.
//
// Every operation runs under a deadline; a database that cannot be reached is
// ErrUnavailable, never a crash. It never logs and never returns a secret (or
// a database password) in an error.
package store
