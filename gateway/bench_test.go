package gateway

import (
	"io"
	"net"
	"testing"

	"bastion/config"
)

// downloadChunk is what the download benchmarks read per iteration.
const downloadChunk = 1 << 20

// sourceServer starts a backend on 127.0.0.1 that writes zeros to every
// connection until it closes, and a test server whose target "source"
// points at it.
func sourceServer(b *testing.B) *testServer {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() {
		buf := make([]byte, downloadChunk)
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
	return newTestServer(b, func(c *config.Config) {
		c.Targets = append(c.Targets, config.Target{Name: "source", Address: sink.Addr().String(), Groups: []string{"ops"}})
	})
}

// readDownload times b.N reads of downloadChunk bytes from conn.
func readDownload(b *testing.B, conn net.Conn) {
	buf := make([]byte, downloadChunk)
	b.SetBytes(downloadChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJumpDownload measures the jump's copy path: bytes from a backend
// through the bastion to an SSH client (x/crypto on both ends, AES-128-GCM).
func BenchmarkJumpDownload(b *testing.B) {
	ts := sourceServer(b)
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
	readDownload(b, conn)
}
