// Package untrusted bounds and cleans strings that come from outside the
// process (a client's user name and version string, a requested jump host,
// key comments, PROXY header fields, enrollment answers) at the point where
// they enter, before anything hashes, stores, logs or echoes them.
//
// Bytes from the network are not text. Go's encoding/json writes an invalid
// UTF-8 byte as \ufffd, so a record holding one does not survive a round trip
// and breaks any "re-encode and compare" check (issue 9, finding 1); a
// 170 KiB user name fills the disk (finding 2). So:
//
//   - Text returns valid, printable UTF-8 of bounded length: an invalid byte
//     becomes the visible escape `\xNN`, a control or other non-printing
//     rune `\u....`, and an over-long string is cut at a rune boundary with a
//     marker saying how many bytes were cut. It never fails.
//   - UserName and ClientVersion decide whether a connection may go on at
//     all: over-long or non-printable values are refused early, before any
//     audit record or store lookup (limits: MaxUserName, MaxClientVersion).
//
// The escaped form is for people and logs, not a reversible encoding. The
// package has no state, never logs and imports nothing of ours.
package untrusted
