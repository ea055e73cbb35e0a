// `bastion audit`: review and verify the audit log.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"bastion/audit"
	"bastion/config"
)

func auditCmd(e *env, args []string) error {
	local, args := takeLocal(args)
	if e.cfg.StateIsURL() && !local {
		return auditSharedCmd(e, args)
	}
	if _, err := os.Stat(e.cfg.AuditLog); errors.Is(err, fs.ErrNotExist) {
		return &exitError{code: 1, msg: fmt.Sprintf("no audit log at %s yet: `bastion serve` and admin commands create it", e.cfg.AuditLog)}
	}
	if len(args) > 0 && args[0] == "verify" {
		return auditVerify(e, args[1:])
	}
	q, err := parseAuditQuery(args)
	if err != nil {
		return err
	}
	f, asJSON, follow := q.filter, q.asJSON, q.follow
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

// auditQuery is what `bastion audit` was asked to show.
type auditQuery struct {
	filter         audit.Filter
	asJSON, follow bool
}

func parseAuditQuery(args []string) (auditQuery, error) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var q auditQuery
	f := &q.filter
	var since, until string
	fs.StringVar(&f.User, "user", "", "only this user")
	fs.StringVar(&f.Target, "target", "", "only this target")
	fs.StringVar(&f.Source, "source", "", "only this source ip or ip:port")
	fs.StringVar(&f.Type, "type", "", "only this event type or category (auth, jump, ...)")
	fs.StringVar(&since, "since", "", "from this time: a duration ago (24h) or RFC 3339")
	fs.StringVar(&until, "until", "", "before this time: a duration ago or RFC 3339")
	fs.BoolVar(&f.FailedOnly, "failed", false, "only failures")
	fs.BoolVar(&q.asJSON, "json", false, "print raw JSON records")
	fs.BoolVar(&q.follow, "follow", false, "keep printing new records")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return q, err
	}
	if len(pos) > 0 {
		return q, &exitError{code: 2, msg: fmt.Sprintf("audit: unexpected %q", pos[0])}
	}
	now := time.Now()
	if f.Since, err = parseWhen(since, now); err != nil {
		return q, &exitError{code: 2, msg: "--since: " + err.Error()}
	}
	if f.Until, err = parseWhen(until, now); err != nil {
		return q, &exitError{code: 2, msg: "--until: " + err.Error()}
	}
	return q, nil
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
// operator must hear about (sealed damage, pruned files, low disk). Admin
// commands sign checkpoints too when they can read the audit key; they
// never create it.
func auditOptions(c *config.Config, warn func(string, ...any)) audit.Options {
	o := audit.Options{MaxSize: c.AuditMaxSize, RetainAge: c.AuditKeepAge, RetainSize: c.AuditKeepSize,
		DiskWarn: c.AuditDiskWarn, Warn: warn}
	if c.AuditKey != "" {
		if _, err := os.Stat(c.AuditKey); err == nil {
			if key, err := audit.LoadKey(c.AuditKey); err == nil {
				o.Key, o.CheckpointFile = key, c.AuditCPFile
			}
		}
	}
	return o
}

// serverAuditOptions are the server's: the audit key is created on first
// start (like the host keys) and must load.
func serverAuditOptions(c *config.Config, warn func(string, ...any)) (audit.Options, error) {
	o := auditOptions(c, warn)
	if c.AuditKey != "" && o.Key == nil {
		key, err := audit.LoadKey(c.AuditKey)
		if err != nil {
			return o, err
		}
		o.Key, o.CheckpointFile = key, c.AuditCPFile
	}
	return o, nil
}

// signCheckpoints appends a signed checkpoint every interval in which
// records were written, until ctx is done; wait returns when it stopped.
func signCheckpoints(ctx context.Context, alog *audit.Log, every time.Duration, log *slog.Logger) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := alog.Checkpoint(); err != nil {
					log.Error("audit checkpoint failed", "err", err)
				}
			}
		}
	}()
	return func() { <-done }
}

// auditVerify checks the chain, and with the audit public key (default:
// audit_key + ".pub") the signed checkpoints and the checkpoint file
// (default: audit_checkpoint, or a copy shipped off the host).
func auditVerify(e *env, args []string) error {
	flags := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	keyPath := flags.String("key", "", "audit public key (default: audit_key + .pub)")
	cpPath := flags.String("checkpoint", "", "latest checkpoint kept apart from the log (default: audit_checkpoint)")
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("audit verify: unexpected %q", pos[0])}
	}
	var vo audit.VerifyOptions
	explicit := *keyPath != ""
	if !explicit && e.cfg.AuditKey != "" {
		*keyPath = e.cfg.AuditKey + ".pub"
	}
	if *keyPath != "" {
		if vo.Key, err = audit.LoadPublicKey(*keyPath); err != nil && (explicit || !errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}
	explicit = *cpPath != ""
	if !explicit {
		*cpPath = e.cfg.AuditCPFile
	}
	if *cpPath != "" {
		cp, err := audit.ReadCheckpoint(*cpPath)
		switch {
		case err == nil:
			vo.Checkpoint = &cp
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	res, err := audit.VerifyWith(e.cfg.AuditLog, vo)
	if err != nil {
		return err
	}
	if res.PrunedBefore > 0 {
		fmt.Fprintf(e.stdout, "records before seq %d were deleted by retention (audit.pruned)\n", res.PrunedBefore)
	}
	for _, d := range res.Sealed {
		fmt.Fprintf(e.stdout, "damaged: %s line %d, offset %d, %d bytes (sha256 %s): %s; sealed by seq %d, the chain continues\n",
			d.File, d.Line, d.Offset, d.Length, d.SHA256, d.Reason, d.SealSeq)
	}
	switch {
	case !res.Keyed:
		fmt.Fprintln(e.stdout, "unkeyed: no audit public key, so a chain recomputed by whoever can rewrite the file would pass")
	case res.Checkpoints == 0:
		fmt.Fprintf(e.stdout, "signed: no checkpoint signs this log; none of its %d records is covered\n", res.Records)
	default:
		fmt.Fprintf(e.stdout, "signed: %d checkpoints; the last, seq %d at %s, covers every record before it; %d records after it are not covered yet\n",
			res.Checkpoints, res.SignedThrough, res.SignedAt.UTC().Format(time.RFC3339), res.Unsigned)
	}
	if vo.Checkpoint != nil && res.OK {
		fmt.Fprintf(e.stdout, "checkpoint file: seq %d is in the log unchanged\n", vo.Checkpoint.Seq)
	}
	if !res.OK {
		where := fmt.Sprintf("%s line %d", res.BreakFile, res.BreakLine)
		if res.BreakLine == 0 {
			where = res.BreakFile
		}
		return &exitError{code: 1, msg: fmt.Sprintf("audit log broken at %s (seq %d): %s; %d records intact before it",
			where, res.BreakSeq, res.Reason, res.Records)}
	}
	if len(res.Sealed) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("audit log chain continues, %d records, but %d damaged stretch(es) were skipped (above)", res.Records, len(res.Sealed))}
	}
	fmt.Fprintf(e.stdout, "audit log intact: %d records\n", res.Records)
	return nil
}
