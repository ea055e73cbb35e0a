// The audit records of every replica in a PostgreSQL state: the mirror that
// copies this host's records there, and `bastion audit` (verify, --follow)
// reading all replicas' chains from it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
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
		if len(out) == 0 {
			return nil
		}
		if !q.asJSON {
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
	// Page through the table in time order; each page is one query under
	// the store's deadline. Every replica's newest seq, read first, is
	// where --follow goes on.
	tips, err := st.AuditReplicas(context.Background())
	if err != nil {
		return err
	}
	var last store.AuditRow
	for {
		rows, err := st.AuditByTime(context.Background(), last, q.filter.Since)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		if err := print(rows); err != nil {
			return err
		}
		last = rows[len(rows)-1]
	}
	for r, tip := range tips {
		seen[r] = max(seen[r], tip)
	}
	if !q.follow {
		return nil
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
	flags := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	keyFlag := flags.String("key", "", "audit public key for every replica's checkpoints (default: this host's audit_key + .pub, for its own chain)")
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("audit verify: unexpected %q (or use --local for this host's file)", pos[0])}
	}
	keyPath, explicit := e.cfg.AuditKey+".pub", *keyFlag != ""
	if explicit {
		keyPath = *keyFlag
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
	tips, err := st.AuditReplicas(context.Background())
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(tips))
	var broken []string
	total := 0
	for _, name := range names {
		k := key
		if name != self && !explicit {
			k = nil
		}
		v := audit.NewChainVerifier(name, k)
		for after := uint64(0); !v.Broken(); {
			rows, err := st.AuditChain(context.Background(), name, after)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				break
			}
			for _, r := range rows {
				v.Feed(r.Line)
			}
			after = rows[len(rows)-1].Seq
		}
		res := v.Result()
		total += res.Records
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
	fmt.Fprintf(e.stdout, "audit chains intact: %d replicas, %d records\n", len(names), total)
	return nil
}
