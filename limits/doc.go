// Package limits decides whether an unauthenticated connection may proceed
// to authentication. It is the gateway's equivalent of OpenSSH's
// MaxStartups, PerSourceMaxStartups and PerSourcePenalties:
//
//   - MaxStartups "start:rate:full": below start unauthenticated connections
//     are admitted; from start they are refused with probability rate%,
//     rising linearly to 100% at full. At full the oldest connection of
//     the source holding the most is evicted to make room for the newcomer
//     (AdmitEvictable), which OpenSSH, forking per connection, cannot do.
//   - PerSourceMax: at most this many unauthenticated connections from one
//     source (an IPv4 address, or an IPv6 /64).
//   - Penalties: after PenaltyFreeFails failed or abandoned
//     authentications, a source is refused for PenaltyBase, doubling with
//     each further failure up to PenaltyMax, and forgotten after
//     PenaltyForget without failures.
//
// Sources in Config.Exempt skip all three checks, so the operator's own
// network can always reach the login prompt during a flood.
//
// The package also parses PROXY protocol v1/v2 headers. A client address
// used for limits must come from the socket unless the socket's peer is a
// configured trusted proxy (sshpiper CVE-2024-35175); SourceAddr applies
// that rule.
//
// Invariants:
//
//   - Memory is bounded: the penalty table holds at most
//     Config.PenaltySources records (oldest failure evicted first, expired
//     records removed lazily), and the per-source connection lists hold one
//     element per admitted, unreleased connection (so at most MaxStartups'
//     full of them, exempt sources aside).
//   - A release function undoes its admission exactly once, and not at all
//     after an eviction did; further calls are no-ops, so counters never
//     underflow.
//   - Refusal and eviction decisions are made in one place, AdmitEvictable,
//     under one mutex; an evict function is called once, after the mutex
//     is released.
//
// The package never logs and never touches the network; callers own the
// sockets, the deadlines and the audit trail.
package limits
