// The audit records of every replica in a PostgreSQL state: the mirror that
// copies this host's records there, and `bastion audit` (verify, --follow)
// reading all replicas' chains from it.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"time"

	"bastion/audit"
	"bastion/config"
	"bastion/store"
)

// auditFollowEvery is how often `bastion audit --follow` polls the database.
const auditFollowEvery = time.Second

// auditMirror returns the audit.Options.Mirror that copies every record of
// this host's log to the state database as replica_id's chain, or nil for
// a state file (one host: the file is the whole record).
func auditMirror(c *config.Config, st *store.Store) (func(audit.Record, []byte) error, error) {
	if !c.StateIsURL() {
		return nil, nil
	}
	replica, err := c.ReplicaName()
	if err != nil {
		return nil, err
	}
	return func(r audit.Record, line []byte) error {
		return st.AppendAudit(context.Background(), replica, r.Seq, r.Time, line)
	}, nil
}

// takeLocal removes --local from args: read the local file even when the
// state is shared.
func takeLocal(args []string) (bool, []string) {
	var out []string
	local := false
	for _, a := range args {
		if a == "--local" || a == "-local" {
			local = true
			continue
		}
		out = append(out, a)
	}
	return local, out
}

// auditSharedCmd is `bastion audit` on a PostgreSQL state: every replica's
// records merged in time order, with the replica that wrote each.
func auditSharedCmd(e *env, args []string) error {
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(args) > 0 && args[0] == "verify" {
		return auditSharedVerify(e, st, args[1:])
	}
	q, err := parseAuditQuery(args)
	if err != nil {
		return err
	}
	rows, err := st.AuditRecords(context.Background())
	if err != nil {
		return err
	}
	seen := map[string]uint64{}
	print := func(rows []store.AuditRow) error {
		var out []audit.ReplicaRecord
		for _, row := range rows {
			seen[row.Replica] = max(seen[row.Replica], row.Seq)
			r, err := audit.ParseRecord(row.Line)
			if err != nil {
				fmt.Fprintf(e.stderr, "replica %s seq %d: unreadable record (%v): run `bastion audit verify`\n", row.Replica, row.Seq, err)
				continue
			}
			if q.filter.Match(r) {
				out = append(out, audit.ReplicaRecord{Replica: row.Replica, Record: r})
			}
		}
		slices.SortStableFunc(out, func(a, b audit.ReplicaRecord) int { return a.Time.Compare(b.Time) })
		if !q.asJSON {
			if len(out) == 0 && len(rows) > 0 && q.follow {
				return nil // no header for a poll that matched nothing
			}
			return audit.WriteReplicaTable(e.stdout, out)
		}
		enc := json.NewEncoder(e.stdout)
		for _, r := range out {
			if err := enc.Encode(struct {
				Replica string       `json:"replica"`
				Record  audit.Record `json:"record"`
			}{r.Replica, r.Record}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := print(rows); err != nil || !q.follow {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t := time.NewTicker(auditFollowEvery)
	defer t.Stop()
	var failing error
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		more, err := st.AuditAfter(ctx, seen)
		switch {
		case err != nil && failing == nil:
			fmt.Fprintf(e.stderr, "audit --follow: %v (still trying)\n", err)
		case err == nil && failing != nil:
			fmt.Fprintln(e.stderr, "audit --follow: the state database answers again")
		}
		failing = err
		if err == nil && len(more) > 0 {
			if err := print(more); err != nil {
				return err
			}
		}
	}
}

// auditSharedVerify checks every replica's chain in the database with the
// file's rules. This host's chain is also checked against the audit public
// key (its signed checkpoints); another replica's only when it uses the
// same key (pass it with --key to check theirs).
func auditSharedVerify(e *env, st *store.Store, args []string) error {
	if len(args) > 0 && args[0] != "--key" && args[0] != "-key" {
		return &exitError{code: 2, msg: fmt.Sprintf("audit verify: unexpected %q (or use --local for this host's file)", args[0])}
	}
	keyPath, explicit := e.cfg.AuditKey+".pub", false
	if len(args) == 2 {
		keyPath, explicit = args[1], true
	} else if len(args) != 0 {
		return &exitError{code: 2, msg: "audit verify: want --key FILE"}
	}
	var key []byte
	if keyPath != ".pub" {
		k, err := audit.LoadPublicKey(keyPath)
		switch {
		case err == nil:
			key = k
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	self, err := e.cfg.ReplicaName()
	if err != nil {
		return err
	}
	rows, err := st.AuditChains(context.Background())
	if err != nil {
		return err
	}
	chains := map[string][][]byte{}
	var names []string
	for _, r := range rows {
		if chains[r.Replica] == nil {
			names = append(names, r.Replica)
		}
		chains[r.Replica] = append(chains[r.Replica], r.Line)
	}
	slices.SortFunc(names, cmp.Compare)
	var broken []string
	for _, name := range names {
		k := key
		if name != self && !explicit {
			k = nil
		}
		res := audit.VerifyLines(name, chains[name], k)
		if !res.OK {
			broken = append(broken, name)
			fmt.Fprintf(e.stdout, "replica %s: BROKEN at seq %d (row %d of the chain): %s; %d records intact before it\n",
				name, res.BreakSeq, res.BreakLine, res.Reason, res.Records)
			continue
		}
		signed := "unkeyed"
		if res.Keyed {
			signed = fmt.Sprintf("signed through seq %d (%d checkpoints, %d records after the last)", res.SignedThrough, res.Checkpoints, res.Unsigned)
		}
		fmt.Fprintf(e.stdout, "replica %s: intact, %d records, seq %d..%d, %s\n", name, res.Records, res.FirstSeq, res.LastSeq, signed)
	}
	if len(broken) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("audit chains broken in the state database: %v", broken)}
	}
	fmt.Fprintf(e.stdout, "audit chains intact: %d replicas, %d records\n", len(names), len(rows))
	return nil
}
