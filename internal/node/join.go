package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// HasMember reports whether dataDir already holds the data of an etcd
// member (its write-ahead log). etcd then ignores InitialCluster and
// InitialClusterState: the member restarts as the member it was, in the
// cluster it belonged to.
func HasMember(dataDir string) bool {
	ents, err := os.ReadDir(filepath.Join(dataDir, "member", "wal"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			return true
		}
	}
	return false
}

// ErrTooManyLearners is returned by [Admin.Join] when the cluster refuses another
// learner: etcd admits one learner at a time unless its members are
// configured otherwise.
var ErrTooManyLearners = errors.New("the cluster already has as many learners as it admits")

// join is [Admin.Join] through cli.
func join(ctx context.Context, cli *clientv3.Client, name string, peerURLs []string) (id uint64, initialCluster string, err error) {
	want := make([]string, 0, len(peerURLs))
	for _, u := range peerURLs {
		pu, err := parseMemberURL(u)
		if err != nil {
			return 0, "", fmt.Errorf("node: join as %q: %w", name, err)
		}
		want = append(want, pu.String())
	}
	slices.Sort(want)
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("node: join as %q: list members: %w", name, err)
	}
	for _, m := range resp.Members {
		if m.Name == name && m.Name != "" {
			return 0, "", fmt.Errorf("node: join as %q: the cluster already has a member of that name (%x); remove it first or pick another name", name, m.ID)
		}
		have := make([]string, 0, len(m.PeerURLs))
		for _, u := range m.PeerURLs {
			if pu, err := parseMemberURL(u); err == nil {
				have = append(have, pu.String())
			}
		}
		slices.Sort(have)
		overlap := slices.ContainsFunc(have, func(u string) bool { return slices.Contains(want, u) })
		switch {
		case !overlap:
		case m.Name == "" && slices.Equal(have, want):
			// Registered by an earlier attempt that never started.
			return m.ID, initialClusterOf(resp.Members, m.ID, name), nil
		case m.Name == "":
			return 0, "", fmt.Errorf("node: join as %q: member %x, which has not started, is registered with peer URLs %v; remove it first", name, m.ID, m.PeerURLs)
		default:
			return 0, "", fmt.Errorf("node: join as %q: member %q (%x) already uses peer URLs %v; remove it first", name, m.Name, m.ID, m.PeerURLs)
		}
	}
	id, initialCluster, err = addLearner(ctx, cli, name, peerURLs)
	if errors.Is(err, rpctypes.ErrTooManyLearners) {
		err = fmt.Errorf("%w: %w", ErrTooManyLearners, err)
	}
	return id, initialCluster, err
}

// initialClusterOf lists every member's peer URLs as name=URL pairs, naming
// member self name.
func initialClusterOf(members []*pb.Member, self uint64, name string) string {
	var pairs []string
	for _, m := range members {
		n := m.Name
		if m.ID == self {
			n = name
		}
		for _, u := range m.PeerURLs {
			pairs = append(pairs, n+"="+u)
		}
	}
	return strings.Join(pairs, ",")
}

// Membership counts the members of a cluster.
type Membership struct {
	Voters   int // voting members, started or not
	Learners int // members that receive the log but do not vote
}

// countMembers is [Admin.CountMembers] through cli.
func countMembers(ctx context.Context, cli *clientv3.Client) (Membership, error) {
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return Membership{}, fmt.Errorf("node: list members: %w", err)
	}
	var m Membership
	for _, mb := range resp.Members {
		if mb.IsLearner {
			m.Learners++
		} else {
			m.Voters++
		}
	}
	return m, nil
}

// memberID is [Admin.MemberID] through cli.
func memberID(ctx context.Context, cli *clientv3.Client, name string) (uint64, error) {
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return 0, fmt.Errorf("node: list members: %w", err)
	}
	var ids []uint64
	for _, m := range resp.Members {
		if m.Name == name && name != "" {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		if id, err := strconv.ParseUint(name, 16, 64); err == nil {
			for _, m := range resp.Members {
				if m.ID == id {
					ids = append(ids, id)
				}
			}
		}
	}
	switch len(ids) {
	case 0:
		return 0, fmt.Errorf("node: member %q: %w", name, ErrNoSuchMember)
	case 1:
		return ids[0], nil
	default:
		return 0, fmt.Errorf("node: member %q: %d members have that name; name one by its ID", name, len(ids))
	}
}
