// `bastion config check`: validate a config and show the one in force.
package main

import "fmt"

// configCmd runs `config check`. Loading already validated the file (an
// error names the key and exits non-zero before this runs), so it prints
// the effective config: defaults filled in, paths absolute, secrets redacted.
func configCmd(e *env, args []string) error {
	if len(args) != 1 || args[0] != "check" {
		return &exitError{code: 2, msg: "usage: bastion [-c FILE] config check"}
	}
	fmt.Fprintf(e.stdout, "# %s: OK\n%s", e.cfgPath, e.cfg.TOML())
	return nil
}
