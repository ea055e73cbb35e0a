// Audit records written by CLI verbs, copied to syslog like the server's.
package main

import (
	"bastion/audit"
	"bastion/auditsyslog"
	"bastion/config"
)

// appendCLI records one CLI event in the audit log and, with audit_syslog
// on, copies it to syslog (waiting at most about a second for that).
func appendCLI(c *config.Config, ev audit.Event) error {
	alog, err := audit.Open(c.AuditLog, auditOptions(c, nil))
	if err == nil {
		err = alog.Append(ev)
		alog.Close()
	}
	if c.AuditSyslog {
		w := auditsyslog.New(c.AuditSyslogSocket)
		w.Send(ev, err)
		w.Close()
	}
	return err
}
