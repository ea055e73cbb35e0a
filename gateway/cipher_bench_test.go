package gateway

import (
	"io"
	"net"
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
			sink, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			const chunk = 1 << 20
			go func() {
				buf := make([]byte, chunk)
				for {
					c, err := sink.Accept()
					if err != nil {
						return
					}
					go func() {
						for {
							if _, err := c.Write(buf); err != nil {
								c.Close()
								return
							}
						}
					}()
				}
			}()
			ts := newTestServer(b, func(c *config.Config) {
				c.Targets = append(c.Targets, config.Target{Name: "source", Address: sink.Addr().String(), Groups: []string{"ops"}})
			})
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
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := io.ReadFull(conn, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
