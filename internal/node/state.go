package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
// other members and stops all the same, without knowing why; [IsMember]
// asks the cluster.
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

// IsMember reports whether the cluster cli talks to has a member id.
func IsMember(ctx context.Context, cli *clientv3.Client, id uint64) (bool, error) {
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return false, fmt.Errorf("node: list members: %w", err)
	}
	for _, m := range resp.Members {
		if m.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// StatusAny is [Status] for a cluster that may have lost its quorum: it
// takes the member list from whichever member the client reaches, without
// asking the quorum (a serializable read), so an operator can see which
// members are down while the cluster cannot serve. The list may be stale
// if that member is cut off from the others.
func StatusAny(ctx context.Context, cli *clientv3.Client) ([]MemberStatus, error) {
	resp, err := cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("node: list members: %w", err)
	}
	out := make([]MemberStatus, len(resp.Members))
	var wg sync.WaitGroup
	for i, m := range resp.Members {
		out[i] = MemberStatus{
			Name:       m.Name,
			ID:         m.ID,
			ClientURLs: slices.Clone(m.ClientURLs),
			PeerURLs:   slices.Clone(m.PeerURLs),
			IsLearner:  m.IsLearner,
		}
		if len(m.ClientURLs) == 0 {
			out[i].Err = errors.New("member has not started")
			continue
		}
		wg.Go(func() { memberStatus(ctx, cli, &out[i]) })
	}
	wg.Wait()
	return out, nil
}

// Unavailable reports whether err, from one of this package's functions
// that talk to a cluster, means that the cluster could not be reached in
// time or has no leader (no quorum), rather than that it refused.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrGRPCNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrGRPCTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrGRPCTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrGRPCTimeoutDueToConnectionLost) {
		return true
	}
	// FromError finds a status anywhere in err's chain.
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}
