// `bastion audit`: review and verify the audit log.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"time"

	"bastion/audit"
	"bastion/config"
)

func auditCmd(e *env, args []string) error {
	if _, err := os.Stat(e.cfg.AuditLog); errors.Is(err, fs.ErrNotExist) {
		return &exitError{code: 1, msg: fmt.Sprintf("no audit log at %s yet: `bastion serve` and admin commands create it", e.cfg.AuditLog)}
	}
	if len(args) > 0 && args[0] == "verify" {
		res, err := audit.Verify(e.cfg.AuditLog)
		if err != nil {
			return err
		}
		for _, d := range res.Sealed {
			fmt.Fprintf(e.stdout, "damaged: %s line %d, offset %d, %d bytes (sha256 %s): %s; sealed by seq %d, the chain continues\n",
				d.File, d.Line, d.Offset, d.Length, d.SHA256, d.Reason, d.SealSeq)
		}
		if !res.OK {
			return &exitError{code: 1, msg: fmt.Sprintf("audit log broken at %s line %d (seq %d): %s; %d records intact before it",
				res.BreakFile, res.BreakLine, res.BreakSeq, res.Reason, res.Records)}
		}
		if len(res.Sealed) > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("audit log chain continues, %d records, but %d damaged stretch(es) were skipped (above)", res.Records, len(res.Sealed))}
		}
		if res.PrunedBefore > 0 {
			fmt.Fprintf(e.stdout, "records before seq %d were deleted by retention (audit.pruned)\n", res.PrunedBefore)
		}
		fmt.Fprintf(e.stdout, "audit log intact: %d records\n", res.Records)
		return nil
	}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var f audit.Filter
	var since, until string
	var asJSON, follow bool
	fs.StringVar(&f.User, "user", "", "only this user")
	fs.StringVar(&f.Target, "target", "", "only this target")
	fs.StringVar(&f.Source, "source", "", "only this source ip or ip:port")
	fs.StringVar(&f.Type, "type", "", "only this event type or category (auth, jump, ...)")
	fs.StringVar(&since, "since", "", "from this time: a duration ago (24h) or RFC 3339")
	fs.StringVar(&until, "until", "", "before this time: a duration ago or RFC 3339")
	fs.BoolVar(&f.FailedOnly, "failed", false, "only failures")
	fs.BoolVar(&asJSON, "json", false, "print raw JSON records")
	fs.BoolVar(&follow, "follow", false, "keep printing new records")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("audit: unexpected %q", pos[0])}
	}
	now := time.Now()
	if f.Since, err = parseWhen(since, now); err != nil {
		return &exitError{code: 2, msg: "--since: " + err.Error()}
	}
	if f.Until, err = parseWhen(until, now); err != nil {
		return &exitError{code: 2, msg: "--until: " + err.Error()}
	}
	recs, err := audit.ReadAll(e.cfg.AuditLog)
	if err != nil {
		return err
	}
	var out []audit.Record
	var last uint64
	for _, r := range recs {
		last = r.Seq
		if f.Match(r) {
			out = append(out, r)
		}
	}
	print := func(rs []audit.Record) error {
		if !asJSON {
			return audit.WriteTable(e.stdout, rs)
		}
		enc := json.NewEncoder(e.stdout)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := print(out); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return audit.Follow(ctx, e.cfg.AuditLog, last+1, func(r audit.Record) {
		if f.Match(r) {
			print([]audit.Record{r})
		}
	})
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

// auditOptions are the audit.Log options the config sets; warn gets what an
// operator must hear about (sealed damage, pruned files, low disk).
func auditOptions(c *config.Config, warn func(string, ...any)) audit.Options {
	return audit.Options{MaxSize: c.AuditMaxSize, RetainAge: c.AuditKeepAge, RetainSize: c.AuditKeepSize,
		DiskWarn: c.AuditDiskWarn, Warn: warn}
}
