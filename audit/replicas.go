// Chains held outside the files, one per replica of a shared state:
// verifying one from its stored lines, and a table of all of them merged.

package audit

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"text/tabwriter"
)

// ReplicaRecord is a record and the replica whose chain holds it.
type ReplicaRecord struct {
	Replica string
	Record
}

// WriteReplicaTable writes recs in the order given (merged by time) as
// WriteTable does, with a REPLICA column after TIME.
func WriteReplicaTable(w io.Writer, recs []ReplicaRecord) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tREPLICA\tSEQ\tTYPE\tRESULT\tUSER\tSOURCE\tTARGET\tDETAILS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.UTC().Format(tableTime), cell(r.Replica), r.Seq, cell(r.Type), cell(r.Result),
			cell(r.User), cell(r.Source), cell(r.Target), details(r.Fields, r.Num))
	}
	return tw.Flush()
}

// VerifyLines checks lines (stored records, in seq order) as one chain
// named name, with the same rules as Verify: every hash, every seq and prev
// link, and with key every checkpoint signature. The chain may start after
// seq 1 (a copy begun on an existing log); FirstSeq says where. Damaged
// stretches cannot be sealed here: the first one is the break, and
// BreakLine is its index in lines, 1-based.
func VerifyLines(name string, lines [][]byte, key ed25519.PublicKey) VerifyResult {
	v := NewChainVerifier(name, key)
	for _, line := range lines {
		v.Feed(line)
	}
	return v.Result()
}

// ChainVerifier is VerifyLines one line at a time, for chains too long to
// hold in memory.
type ChainVerifier struct {
	name string
	key  ed25519.PublicKey
	c    *chain
	n    int
}

// NewChainVerifier starts checking the chain name (see VerifyLines).
func NewChainVerifier(name string, key ed25519.PublicKey) *ChainVerifier {
	return &ChainVerifier{name: name, key: key, c: &chain{tip: chainTip{Hash: zeroHash}, key: key}}
}

// Feed takes the chain's next line.
func (v *ChainVerifier) Feed(line []byte) {
	v.n++
	v.c.feed(position{file: v.name, line: v.n}, line, nil)
}

// Broken reports whether a break was found already.
func (v *ChainVerifier) Broken() bool { return v.c.open != nil || v.c.badCP != nil }

// Result reports on the lines fed so far.
func (v *ChainVerifier) Result() VerifyResult {
	c, name, key := v.c, v.name, v.key
	res := VerifyResult{Records: c.records, OK: true, Keyed: key != nil,
		Checkpoints: c.checkpoints, Unsigned: c.sinceCP, LastSeq: c.tip.Seq}
	if c.first != nil {
		res.FirstSeq = c.first.Seq
	}
	if cp := c.lastCP; cp != nil {
		res.SignedThrough, res.SignedAt = cp.Seq, cp.Time
	}
	switch {
	case c.open != nil:
		res.OK, res.BreakFile, res.BreakLine, res.BreakSeq, res.Reason = false, name, c.open.Line, c.open.Seq, c.open.Reason
	case c.badCP != nil:
		res.OK, res.BreakFile, res.BreakLine, res.BreakSeq = false, name, c.badCPAt.line, c.badCP.Seq
		res.Reason = fmt.Sprintf("checkpoint signature does not verify with audit key %s: the records before it were changed and the chain recomputed", KeyID(key))
	}
	return res
}
