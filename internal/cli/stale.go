package cli

import (
	"fmt"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// Reading while the cluster has no quorum: the store falls back to a
// member's own copy and marks the page stale; the read says so, on stderr
// and in --json, instead of failing after its timeout.

// noteStale records whether the history being printed is stale and, if
// it is, says so on stderr: with the time this machine's member last had
// a leader, when the home runs one.
func (a *App) noteStale(stale bool) {
	if !stale {
		a.staleAsOf = nil
		return
	}
	var asOf time.Time
	if a.home != nil && node.RunsMember(a.home.Role) {
		asOf, _ = readQuorumSeen(a.cfg.Home)
	}
	a.staleAsOf = &asOf
	if asOf.IsZero() {
		fmt.Fprintln(a.env.Stderr, "parley: read-only: no quorum; showing a reachable member's copy, which may be behind")
		return
	}
	fmt.Fprintf(a.env.Stderr, "parley: read-only: no quorum; showing this machine's copy as of %s\n", asOf.Local().Format("2006-01-02 15:04:05"))
}

// markStale adds "stale": true (and "stale_as_of", when known) to a
// message's JSON while the history being printed is stale.
func (a *App) markStale(o map[string]any) map[string]any {
	if a.staleAsOf == nil {
		return o
	}
	o["stale"] = true
	if !a.staleAsOf.IsZero() {
		o["stale_as_of"] = a.staleAsOf.UTC().Format(time.RFC3339Nano)
	}
	return o
}
