package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// memberStatusTimeout bounds the status call to one member in Status, so
// that one unreachable member does not use up the caller's whole deadline.
const memberStatusTimeout = 2 * time.Second

// ErrNoSuchMember means the cluster has no member of that name or ID.
var ErrNoSuchMember = errors.New("no such member")

// Membership changes refused for a passing reason are asked for again
// after a jittered, exponentially growing wait: from about retryFirst up
// to retryMax, for as long as the caller's context allows.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = 500 * time.Millisecond
)

// backoff yields jittered, exponentially growing waits: each is drawn
// from the upper half of a ceiling that doubles from first up to most,
// so that clients refused together do not ask again together.
type backoff struct {
	ceil, most time.Duration
}

func newBackoff(first, most time.Duration) *backoff { return &backoff{ceil: first, most: most} }

// next returns the next wait.
func (b *backoff) next() time.Duration {
	d := b.ceil/2 + rand.N(b.ceil/2+1)
	b.ceil = min(2*b.ceil, b.most)
	return d
}

// retry calls op until it succeeds, fails with an error for which
// transient is false, or ctx ends, backing off between attempts. It
// returns op's last error, joined with ctx's if ctx ended.
func retry(ctx context.Context, op func() error, transient func(error) bool) error {
	b := newBackoff(retryFirst, retryMax)
	for {
		err := op()
		if err == nil || !transient(err) {
			return err
		}
		t := time.NewTimer(b.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// isUnhealthy reports whether etcd refused a membership change because the
// leader has not been connected to a quorum of voting members for long
// enough: etcd wants every peer it counts connected for 5 s, so a change
// right after a member joined is refused for a few seconds.
func isUnhealthy(err error) bool {
	return errors.Is(err, rpctypes.ErrUnhealthy)
}

// addLearner is [Admin.AddLearner] through cli.
func addLearner(ctx context.Context, cli *clientv3.Client, name string, peerURLs []string) (id uint64, initialCluster string, err error) {
	if name == "" {
		return 0, "", errors.New("node: add learner: no name")
	}
	if len(peerURLs) == 0 {
		return 0, "", fmt.Errorf("node: add learner %q: no peer URLs", name)
	}
	for _, u := range peerURLs {
		if _, err := parseMemberURL(u); err != nil {
			return 0, "", fmt.Errorf("node: add learner %q: %w", name, err)
		}
	}
	var resp *clientv3.MemberAddResponse
	err = retry(ctx, func() (err error) {
		resp, err = cli.MemberAddAsLearner(ctx, peerURLs)
		return err
	}, isUnhealthy)
	if err != nil {
		return 0, "", fmt.Errorf("node: add learner %q at %v: %w", name, peerURLs, err)
	}
	id = resp.Member.ID
	var pairs []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == id {
			n = name
		}
		// A member added earlier that has not started yet has no name. It
		// is listed all the same, nameless, as etcdctl does: a joining
		// member checks that it knows every member's peer URLs.
		for _, u := range m.PeerURLs {
			pairs = append(pairs, n+"="+u)
		}
	}
	return id, strings.Join(pairs, ","), nil
}

// promote is [Admin.Promote] through cli.
func promote(ctx context.Context, cli *clientv3.Client, id uint64) error {
	err := retry(ctx, func() error {
		_, err := cli.MemberPromote(ctx, id)
		return err
	}, func(err error) bool {
		return errors.Is(err, rpctypes.ErrMemberLearnerNotReady) ||
			errors.Is(err, rpctypes.ErrLeaderChanged) ||
			errors.Is(err, rpctypes.ErrNoLeader) ||
			isUnhealthy(err)
	})
	if err != nil && !errors.Is(err, rpctypes.ErrMemberNotLearner) {
		return fmt.Errorf("node: promote member %x: %w", id, err)
	}
	return nil
}

// removeMember is [Admin.RemoveMember] through cli.
func removeMember(ctx context.Context, cli *clientv3.Client, name string) error {
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("node: remove member %q: %w", name, err)
	}
	var ids []uint64
	for _, m := range resp.Members {
		if m.Name == name {
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
		return fmt.Errorf("node: remove member %q: %w", name, ErrNoSuchMember)
	case 1:
	default:
		return fmt.Errorf("node: remove member %q: %d members have that name; name one by its ID", name, len(ids))
	}
	err = retry(ctx, func() error {
		_, err := cli.MemberRemove(ctx, ids[0])
		return err
	}, isUnhealthy)
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("node: remove member %q (%x): %w", name, ids[0], err)
	}
	// The removal may have gone through although its reply says otherwise:
	// a member that applies its own removal stops, and may answer "server
	// stopped"; a reply may be lost. The member list tells.
	switch gone, lerr := memberGone(ctx, cli, ids[0]); {
	case lerr == nil && gone:
		return nil
	case lerr == nil:
		return fmt.Errorf("node: remove member %q (%x): %w", name, ids[0], err)
	default:
		return fmt.Errorf("node: remove member %q (%x): %w; whether it was removed is unknown: %v", name, ids[0], err, lerr)
	}
}

// verifyTimeout bounds the check of a membership change whose reply was an
// error; each attempt of it gets verifyAttempt, so that a request sent to
// the member that just stopped is asked again of another.
const (
	verifyTimeout = 5 * time.Second
	verifyAttempt = time.Second
)

// memberGone reports whether the member id is no longer listed. It asks
// again, for up to verifyTimeout even if ctx has run out of time, while
// the list cannot be had.
func memberGone(ctx context.Context, cli *clientv3.Client, id uint64) (bool, error) {
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
	defer cancel()
	b := newBackoff(retryFirst, retryMax)
	for {
		actx, acancel := context.WithTimeout(vctx, verifyAttempt)
		resp, err := cli.MemberList(actx)
		acancel()
		if err == nil {
			for _, m := range resp.Members {
				if m.ID == id {
					return false, nil
				}
			}
			return true, nil
		}
		t := time.NewTimer(b.next())
		select {
		case <-vctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
	}
}

// MemberStatus describes one member of a cluster as [Admin.Status] found it.
type MemberStatus struct {
	Name       string // empty for a member that has not started yet
	ID         uint64
	ClientURLs []string
	PeerURLs   []string
	IsLearner  bool

	// Reachable reports whether the member answered a status request on
	// one of its client URLs. The fields below are set only if it did.
	Reachable bool
	// Err is why the member could not be reached.
	Err error

	IsLeader    bool   // the member is the leader by its own account
	Leader      uint64 // the leader's ID as the member knows it; 0 if none
	Version     string // etcd version of the member
	RaftTerm    uint64
	RaftIndex   uint64 // last index of the member's raft log
	RaftApplied uint64 // last raft index the member has applied
	DBSize      int64  // size of the member's database file, in bytes
	DBSizeInUse int64  // bytes of the database in use; the rest is free pages
	// Errors are the problems the member reports, such as alarms.
	Errors []string
}

// String returns the member's name and its ID in hexadecimal, as etcd
// prints IDs, or the ID alone for a member that has not started.
func (m MemberStatus) String() string {
	if m.Name == "" {
		return strconv.FormatUint(m.ID, 16)
	}
	return fmt.Sprintf("%s (%x)", m.Name, m.ID)
}

// memberStatuses is [Admin.Status] through cli, or [Admin.StatusAny] if serializable.
func memberStatuses(ctx context.Context, cli *clientv3.Client, serializable bool) ([]MemberStatus, error) {
	var opts []clientv3.OpOption
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := cli.MemberList(ctx, opts...)
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

// memberStatus fills in ms from the first of its client URLs that answers.
func memberStatus(ctx context.Context, cli *clientv3.Client, ms *MemberStatus) {
	ctx, cancel := context.WithTimeout(ctx, memberStatusTimeout)
	defer cancel()
	var errs []error
	for _, u := range ms.ClientURLs {
		st, err := cli.Status(ctx, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		ms.Reachable = true
		ms.Leader = st.Leader
		ms.IsLeader = st.Leader != 0 && st.Leader == st.Header.GetMemberId()
		ms.Version = st.Version
		ms.RaftTerm = st.RaftTerm
		ms.RaftIndex = st.RaftIndex
		ms.RaftApplied = st.RaftAppliedIndex
		ms.DBSize = st.DbSize
		ms.DBSizeInUse = st.DbSizeInUse
		ms.Errors = slices.Clone(st.Errors)
		return
	}
	ms.Err = errors.Join(errs...)
}
