package gateway

import (
	"io"
	"net"
	"testing"

	"bastion/config"
)

// BenchmarkJumpDownload measures the jump's copy path: bytes from a backend
// through the bastion to an SSH client (x/crypto on both ends, AES-128-GCM).
func BenchmarkJumpDownload(b *testing.B) {
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
	c, err := ts.login("alice", 0)
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
}
