// Package ca owns the bastion's SSH user-certificate authority: its private
// key (created on first start, mode 0600, like the host keys), the serial
// counter, and issuing the two kinds of certificate the bastion signs:
//
//   - session certificates, for the bastion's own connection to a backend in
//     a recorded session: valid from one minute ago to two minutes from now,
//     one principal (the login), key id "USER session=ID", source-address
//     limited to the bastion, and only the permit-pty extension;
//   - jump certificates, printed by `ssh USER@bastion cert` for the key the
//     user logged in with: valid for the configured TTL, principals = the
//     logins of the targets the user may reach, key id "USER".
//
// Every certificate gets a serial no other certificate of this CA had. The
// package never logs and never writes the private key anywhere but its file;
// callers audit each issued certificate with its serial.
package ca
