package gateway

import (
	"testing"

	"golang.org/x/crypto/ssh"

	"bastion/config"
)

// BenchmarkCipherDownload measures a jump's download with each cipher the
// bastion offers, as a non-OpenSSH client (which gets the full list) would
// negotiate it; x/crypto on both ends. Compare CPU per GiB with
// `go test -c` and /usr/bin/time (see docs/decisions.md).
func BenchmarkCipherDownload(b *testing.B) {
	for _, cipher := range config.Default().SSH.Ciphers {
		b.Run(cipher, func(b *testing.B) {
			ts := sourceServer(b)
			c, err := ssh.Dial("tcp", ts.addr, &ssh.ClientConfig{User: "alice", ClientVersion: "SSH-2.0-bench", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
				Config: ssh.Config{Ciphers: []string{cipher}},
				Auth:   []ssh.AuthMethod{ssh.PublicKeys(ts.keys["alice"]), ssh.KeyboardInteractive(answers([]string{password}, []string{ts.code(0)}))}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conn, err := c.Dial("tcp", "source:22")
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			readDownload(b, conn)
		})
	}
}
