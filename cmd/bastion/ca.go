// `bastion ca show`: the user CA's public key and the backend setup.
package main

import (
	"fmt"

	"bastion/ca"
)

func caCmd(e *env, args []string) error {
	if len(args) != 1 || args[0] != "show" {
		return &exitError{code: 2, msg: "ca: want `ca show`"}
	}
	signer, err := ca.LoadKey(e.cfg.CA.Key)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, ca.BackendSetup(signer.PublicKey()))
	return nil
}
