package session

import (
	"strings"
	"testing"
	"unicode/utf8"

	"bastion/config"
)

// FuzzParseCommand: any client command line parses or errors; what parses
// is bounded UTF-8 with a target free of shell and path characters.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"pve1", "root@pve1 zpool status", " a@b\tc ", "a@b@c", "$(id)", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCommand(s)
		if err != nil {
			return
		}
		if c.Target == "" || strings.ContainsAny(c.Target, "@/ $;`") || !utf8.ValidString(c.Args) || len(c.Args) > MaxCommand {
			t.Fatalf("ParseCommand(%q) = %+v", s, c)
		}
		if c.Login != "" && !config.ValidLogin(c.Login) {
			t.Fatalf("bad login accepted: %+v", c)
		}
	})
}
