// Package node runs etcd members inside the current process.
//
// It is the only package that imports go.etcd.io/etcd/server/v3/embed. It
// offers three things:
//
//   - [Start] runs one etcd member described by a [Config] and returns a
//     [Node] that owns it until [Node.Close].
//   - [Local] gives every process on a machine that uses the same home
//     directory one shared single-member etcd, hosted by exactly one of them
//     and taken over by another when the host exits.
//   - [AddLearner], [Promote], [RemoveMember] and [Status] change and
//     inspect the membership of a running cluster through a client.
//
// The package knows about etcd, files, ports and processes. It must not know
// what is stored in etcd: key layout, encryption and the meaning of the data
// belong to its callers.
//
// Nothing in this package writes to standard output or standard error. etcd's
// own log goes to the file named by [Config.LogFile] (or nowhere); the
// package's own messages go to the *slog.Logger its callers pass (nil
// discards them). gRPC keeps a process-wide logger of its own that writes
// errors to standard error; a program silences it once, at startup, with
// [SilenceGRPCLogs].
package node
