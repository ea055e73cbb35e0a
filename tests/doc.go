// Package tests holds the end-to-end suite: the real OpenSSH client (ssh,
// ssh -J, scp, sftp) against a real bastion process, jumping to a real
// OpenSSH sshd that the suite starts on 127.0.0.1. Prompts are answered by an
// SSH_ASKPASS script; codes are computed independently with oathtool.
package tests
