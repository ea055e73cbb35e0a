// `ssh USER@bastion cert`: a certificate for the key the user logged in with.
package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"bastion/audit"
	"bastion/ca"
)

func (s *Service) cert(ctx context.Context, r Request) (uint32, error) {
	if r.Key == nil {
		return 0, &userError{msg: "no login key known for this connection"}
	}
	id, opts, err := s.allowedKey(ctx, r.User, r.Key)
	if err != nil {
		return 0, err
	}
	cfg := s.Config()
	principals := JumpPrincipals(cfg.Targets, id)
	if len(principals) == 0 {
		return 0, &userError{msg: "no target you may jump to has logins configured, so there is nothing to certify"}
	}
	sources := cfg.CA.SourceAddresses
	if len(sources) == 0 {
		sources = hostAddresses()
	}
	// Never outlive the key's own expiry-time; no pty for a no-pty key.
	ttl := cfg.CertTTLFor(id.Groups)
	if !opts.Expires.IsZero() {
		ttl = min(ttl, opts.Expires.Sub(s.now()))
	}
	cert, err := s.CA.JumpCert(ca.JumpRequest{Key: r.Key, User: r.User, Principals: principals,
		TTL: ttl, Sources: sources, NoPTY: slices.Contains(opts.Kept, "no-pty")})
	if err != nil {
		return 0, err
	}
	validBefore := time.Unix(int64(cert.ValidBefore), 0).UTC()
	if err := r.Audit(audit.Event{Type: "cert.issued", Result: "ok", Num: map[string]int64{"serial": int64(cert.Serial)}, Fields: map[string]string{
		"key_id": cert.KeyId, "principals": strings.Join(principals, ","),
		"key_fp": ssh.FingerprintSHA256(r.Key), "valid_before": validBefore.Format(time.RFC3339),
	}}); err != nil {
		return 0, &userError{msg: "the audit log cannot be written, so no certificate is issued", detail: err}
	}
	reply(r.Exec, true)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))) + " " + r.User + "@bastion\n"
	io.WriteString(r.Channel, line)
	io.WriteString(r.Channel.Stderr(), lineEnds(fmt.Sprintf(
		"# Certificate for %s (serial %d), logins %s, valid until %s.\n"+
			"# Save it beside your key as ~/.ssh/id_ed25519-cert.pub (or the key's name plus -cert.pub).\n",
		ssh.FingerprintSHA256(r.Key), cert.Serial, strings.Join(principals, ", "), validBefore.Format(time.RFC3339)), r.PtyReq != nil))
	return 0, nil
}

// hostAddresses are this host's unicast addresses, for source-address.
func hostAddresses() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return []string{"127.0.0.1", "::1"}
	}
	var out []string
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			continue
		}
		out = append(out, p.Addr().String())
	}
	return out
}
