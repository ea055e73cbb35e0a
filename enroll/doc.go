// Package enroll owns first-login enrollment: deciding whether a pending user
// may enroll (policy, window, one-time token), showing the QR code and the
// base32 secret in keyboard-interactive prompt text, confirming one code, and
// binding the secret with fresh recovery codes in one transaction.
//
// It must never store a secret that was not confirmed by a code, and never
// let a user replace a secret they already have: re-enrollment needs an
// admin's `bastion user reset-otp`.
package enroll
