// Audit records written by CLI verbs, copied to syslog like the server's.
package main

import (
	"bastion/audit"
	"bastion/auditsyslog"
	"bastion/config"
	"bastion/store"
)

// appendCLI records one CLI event in the audit log and, with audit_syslog
// on, copies it to syslog (waiting at most about a second for that).
func appendCLI(c *config.Config, ev audit.Event) error {
	opt := auditOptions(c, nil)
	var err error
	if c.StateIsURL() {
		// Shared state: the record joins this host's chain in the database too.
		var st *store.Store
		if st, err = openStoreConfig(c); err == nil {
			defer st.Close()
			opt.Mirror, err = auditMirror(c, st)
		}
	}
	var alog *audit.Log
	if err == nil {
		alog, err = audit.Open(c.AuditLog, opt)
	}
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
