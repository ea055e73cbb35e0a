// Package oath implements OATH one-time passwords for the gateway's second
// factor: HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA1, base32 secrets
// and otpauth:// URIs, recovery codes, and a parser for the
// ~/.google_authenticator file written by google-authenticator-libpam.
//
// The package is pure logic: it does no I/O beyond parsing the bytes it is
// given, keeps no state and logs nothing. Callers own storage, locking and
// auditing. In particular:
//
//   - VerifyTOTP never accepts a time step <= lastUsed and reports which step
//     matched; the caller must store that step atomically (compare-and-swap)
//     so that two concurrent logins with the same code cannot both pass
//     (RFC 6238 §5.2).
//   - VerifyHOTP returns the next counter to store; the caller stores it
//     atomically in the same way.
//   - Throttling of failures (RFC 4226 §7.3) is the caller's job.
//
// All candidate codes in a window are computed and compared in constant
// time; verification does not stop at the first match.
//
// Errors: ErrFormat means the answer is not a well-formed code (it can be
// rejected without touching the secret), ErrInvalid means no code in the
// window matched, ErrReplayed means the only match was an already-used step.
// Any other error means the Params are unusable (empty secret, window too
// large) and is a configuration problem, not a user failure.
//
// # Window semantics
//
// Params.Window counts steps on each side of now for TOTP (0 = only the
// current step, 1 = the default of SECURITY.md: previous, current and next)
// and the look-ahead beyond the stored counter for HOTP (0 = only the stored
// counter). It must be at most 100.
//
// google-authenticator's WINDOW_SIZE is instead the total number of codes
// accepted (default 3). libpam checks TOTP steps -(W-1)/2 .. W/2 around now
// and HOTP counters counter .. counter+W-1. GAFile.Params converts this as
// Window = WindowSize/2 for TOTP (identical for odd sizes; for an even size
// one extra past step is accepted) and Window = WindowSize-1 for HOTP
// (identical to libpam).
package oath
