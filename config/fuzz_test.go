package config

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary TOML to the config parser: it must return a
// config that passes Validate or an error, never panic.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../config.toml.example"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("listen = \"127.0.0.1:22\"\n[[target]]\nname = \"a\"\naddress = \"h:1\"\ngroups = [\"g\"]\n"))
	f.Add([]byte("[auth]\nlockout_time = 300\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse returned a config that fails Validate: %v", err)
			}
		}
	})
}
