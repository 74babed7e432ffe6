// Package clustertest tests Parley on clusters of real processes: `parley
// node` members on 127.0.0.1 ports, `parley send` and `parley read`
// clients, members killed with SIGKILL, restarted, joined and removed
// while clients send. Its checker ([Check]) judges a recorded history of
// sends and reads: every acknowledged message stored exactly once, nothing
// stored that was never sent, one order for every reader, and each
// sender's acknowledgements respected by that order.
//
// The cluster tests build the parley binary once per test binary and skip
// under go test -short; the checker's own tests always run.
package clustertest
