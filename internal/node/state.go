package node

import (
	"errors"

	"go.etcd.io/etcd/client/pkg/v3/types"
)

// IsLearner reports whether the member is, at the moment, a learner: a
// member that receives the log but does not vote. etcd refuses a learner's
// clients everything but serializable reads and status requests; an etcd
// client given other endpoints too retries refused requests there.
func (n *Node) IsLearner() (learner bool) {
	select {
	case <-n.done:
		return false
	default:
	}
	// etcd panics (through its logger) when asked about a member that has
	// just applied its own removal; a removed member is no learner.
	if n.etcd.Server.Cluster().Member(n.etcd.Server.MemberID()) == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			learner = false
		}
	}()
	return n.etcd.Server.IsLearner()
}

// Leader returns the ID of the cluster's leader as the member knows it, or
// 0 if it knows of none, and the raft term.
func (n *Node) Leader() (id, term uint64) {
	select {
	case <-n.done:
		return 0, 0
	default:
		return uint64(n.etcd.Server.Leader()), n.etcd.Server.Term()
	}
}

// leaderChanged returns a channel that etcd closes when the member next
// learns of a newly elected leader. Take it before reading the leader, so
// that no election between the two goes unnoticed. etcd does not notify
// the loss of a leader.
func (n *Node) leaderChanged() <-chan struct{} {
	return n.etcd.Server.LeaderChangedNotify()
}

// appliedCommitted returns a channel that is closed once the member has
// applied every entry it now knows to be committed.
func (n *Node) appliedCommitted() <-chan struct{} {
	return n.etcd.Server.ApplyWaitCommit()
}

// MemberName returns the name of the member id of the cluster, as this
// member knows the membership, or "" if it does not know it or the member
// has not started yet.
func (n *Node) MemberName(id uint64) string {
	select {
	case <-n.done:
		return ""
	default:
	}
	m := n.etcd.Server.Cluster().Member(types.ID(id))
	if m == nil {
		return ""
	}
	return m.Name
}

// Voters returns the number of voting members of the cluster as this
// member knows the membership.
func (n *Node) Voters() int {
	select {
	case <-n.done:
		return 0
	default:
	}
	voters := 0
	for _, m := range n.etcd.Server.Cluster().Members() {
		if !m.IsLearner {
			voters++
		}
	}
	return voters
}

// Removed reports whether the member stopped because it applied its own
// removal from its cluster. It is meaningful once [Node.Done] is closed.
// A member cut off before it applied its removal learns of it from the
// other members and stops all the same, without knowing why;
// [Admin.IsMember] asks the cluster.
func (n *Node) Removed() bool {
	select {
	case <-n.done:
	default:
		return false
	}
	return errors.Is(n.err, ErrStopped) && n.etcd.Server.IsIDRemoved(uint64(n.etcd.Server.MemberID()))
}

// OtherClientURLs returns the client URLs of the other members of the
// cluster, as this member last knew the membership.
func (n *Node) OtherClientURLs() []string {
	var out []string
	for _, m := range n.etcd.Server.Cluster().Members() {
		if uint64(m.ID) != n.id {
			out = append(out, m.ClientURLs...)
		}
	}
	return out
}
