// Package store owns bastion's persistent state: users, their keys, password
// hashes, OTP secrets (encrypted at rest with the state key), recovery codes
// (stored as keyed hashes) and lockout counters, in one embedded SQLite file.
//
// Every state change is one transaction, so a crash or a full disk never loses
// a secret, and every check-and-consume (OTP step, recovery code, enrollment
// token, first enrollment) is atomic: of two concurrent logins with the same
// code exactly one succeeds. It never logs and never returns a secret in an error.
package store
