// Package node runs etcd members inside the current process.
//
// It is the only package that imports go.etcd.io/etcd/server/v3/embed, and
// beside store the only one that imports etcd's client (it imports store
// only for its error mapping). It offers:
//
//   - [Start] runs one etcd member described by a [Config] and returns a
//     [Node] that owns it until [Node.Close].
//   - [Local] gives every process on a machine that uses the same home
//     directory one shared single-member etcd, hosted by exactly one of them
//     and taken over by another when the host exits.
//   - [Admin], opened from a cluster's endpoints and TLS configuration by
//     [OpenAdmin], is the one home of cluster administration: it lists,
//     adds, promotes, updates and removes members and asks them for their
//     status. Its errors from etcd are mapped once, by [store.MapError],
//     to store's sentinels; callers need nothing of etcd.
//   - A [Supervisor] looks after a running member: it reports changes of
//     leader and promotes a learner once it has caught up, driven by
//     etcd's notifications rather than by polling.
//   - For a cluster of machines: a [CA] that certifies machines and signs
//     revocation lists, [Token]s (invitations naming the cluster by its
//     CA's digest), the invitation endpoint ([Bootstrap]) that admits a
//     machine holding one, and [RequestJoin], its other side, which
//     checks the digest before it sends anything secret. [ClaimLocal]
//     moves a home's shared member into such a cluster.
//
// The package knows about etcd, files, ports, processes and certificates. It
// must not know what is stored in etcd: key layout, encryption and the
// meaning of the data belong to its callers (the invitation endpoint asks
// its caller, through [BootstrapConfig.Admit], to consume an invitation).
//
// Nothing in this package writes to standard output or standard error. etcd's
// own log goes to the file named by [Config.LogFile] (or nowhere); the
// package's own messages go to the *slog.Logger its callers pass (nil
// discards them). gRPC keeps a process-wide logger of its own that writes
// errors to standard error; a program silences it once, at startup, with
// [SilenceGRPCLogs].
package node
