package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/parley-chat/parley/internal/store"
)

// AdminConfig says how an [Admin] reaches a cluster.
type AdminConfig struct {
	// Endpoints are the client URLs of the cluster (host:port or
	// http(s)://host:port). Required.
	Endpoints []string
	// TLS, when non-nil, is used for client connections.
	TLS *tls.Config
	// Username and Password authenticate to etcd when its auth is
	// enabled; empty means no authentication.
	Username, Password string
	// DialTimeout bounds authentication; zero means 5 seconds.
	DialTimeout time.Duration
	// LogFile receives the etcd client's own log lines (warnings and
	// worse); empty discards them.
	LogFile string
	// DialOptions are added to the gRPC connection (instrumentation, such
	// as failing chosen calls in tests); nil adds none.
	DialOptions []grpc.DialOption
}

// Admin administers the membership of one etcd cluster: it lists, adds,
// promotes, updates and removes members, and asks them for their status.
// It is safe for concurrent use.
//
// Every error its methods return that comes from etcd is mapped once, by
// [store.MapError], to store's sentinels: callers branch with errors.Is
// on [store.ErrUnavailable], [store.ErrPermission] and the like, and on
// this package's own [ErrNoSuchMember] and [ErrTooManyLearners].
type Admin struct {
	cli         *clientv3.Client
	closeLogger func() error
}

// OpenAdmin connects to the cluster in cfg. Connecting is lazy in etcd's
// client: OpenAdmin fails only on bad configuration (or, with a user
// name, when authentication fails); an unreachable cluster shows up as
// [store.ErrUnavailable] from the first call.
func OpenAdmin(cfg AdminConfig) (*Admin, error) {
	var eps []string
	for _, e := range cfg.Endpoints {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("node: open cluster administration: no endpoints")
	}
	lg, closeLogger, err := newZapLogger(cfg.LogFile, "warn")
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          cmpDuration(cfg.DialTimeout, 5*time.Second),
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               lg,
		PermitWithoutStream:  true,
		// As store's client: back within seconds when a member restarts.
		DialOptions: append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})}, cfg.DialOptions...),
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("node: open cluster administration for %s: %w", strings.Join(eps, ","), mapErr(err)), closeLogger())
	}
	return &Admin{cli: cli, closeLogger: closeLogger}, nil
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close releases the connection.
func (a *Admin) Close() error {
	err := a.cli.Close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, a.closeLogger())
}

// Endpoints returns the endpoints the Admin was opened with.
func (a *Admin) Endpoints() []string { return a.cli.Endpoints() }

// mapErr is the one mapping of etcd's errors, store's.
func mapErr(err error) error { return store.MapError(err) }

// Member is one member of a cluster as its membership lists it.
type Member struct {
	Name       string // empty for a member that has not started yet
	ID         uint64
	ClientURLs []string
	PeerURLs   []string
	IsLearner  bool
}

// MemberList lists the members of the cluster, as its quorum agrees.
func (a *Admin) MemberList(ctx context.Context) ([]Member, error) {
	resp, err := a.cli.MemberList(ctx)
	if err != nil {
		return nil, mapErr(fmt.Errorf("node: list members: %w", err))
	}
	out := make([]Member, len(resp.Members))
	for i, m := range resp.Members {
		out[i] = Member{Name: m.Name, ID: m.ID, ClientURLs: slices.Clone(m.ClientURLs), PeerURLs: slices.Clone(m.PeerURLs), IsLearner: m.IsLearner}
	}
	return out, nil
}

// Status lists the members of the cluster and asks each one for its
// status, in parallel, giving each up to 2 s within ctx. Members that
// cannot be reached are listed with Reachable false. Status fails only if
// the member list itself cannot be had.
func (a *Admin) Status(ctx context.Context) ([]MemberStatus, error) {
	st, err := memberStatuses(ctx, a.cli, false)
	return st, mapErr(err)
}

// StatusAny is [Admin.Status] for a cluster that may have lost its quorum:
// it takes the member list from whichever member the client reaches,
// without asking the quorum (a serializable read), so an operator can see
// which members are down while the cluster cannot serve. The list may be
// stale if that member is cut off from the others.
func (a *Admin) StatusAny(ctx context.Context) ([]MemberStatus, error) {
	st, err := memberStatuses(ctx, a.cli, true)
	return st, mapErr(err)
}

// AddLearner adds a member named name, reachable at peerURLs, to the
// cluster, as a learner: a member that receives the log but does not vote,
// so adding it cannot cost the cluster its quorum. It returns the new
// member's ID and the InitialCluster the new member must be started with
// (with InitialClusterState ClusterStateExisting). Once the member runs
// and has caught up, [Admin.Promote] makes it a voting member.
//
// etcd refuses membership changes while the leader has been connected to
// a quorum of voting members for less than 5 s, as happens right after a
// member joined; AddLearner asks again, backing off, until it is accepted
// or ctx ends.
func (a *Admin) AddLearner(ctx context.Context, name string, peerURLs []string) (id uint64, initialCluster string, err error) {
	id, initialCluster, err = addLearner(ctx, a.cli, name, peerURLs)
	return id, initialCluster, mapErr(err)
}

// Join registers a member named name, reachable at peerURLs, as a learner
// of the cluster, like [Admin.AddLearner], and returns its ID and the
// InitialCluster it must start with (with InitialClusterState
// ClusterStateExisting).
//
// Join can be repeated after a failed start: a member registered with
// exactly peerURLs that has never started (it has no name yet) is taken to
// be this one, left in place and returned. A member that has started with
// any of peerURLs is an error: it must be removed first. A cluster that
// admits no further learner is [ErrTooManyLearners].
func (a *Admin) Join(ctx context.Context, name string, peerURLs []string) (id uint64, initialCluster string, err error) {
	id, initialCluster, err = join(ctx, a.cli, name, peerURLs)
	return id, initialCluster, mapErr(err)
}

// Promote makes the learner id a voting member. etcd refuses while the
// learner is behind the leader; Promote asks again, backing off, until it
// is accepted or ctx ends. Promoting a member that already votes is not an
// error.
func (a *Admin) Promote(ctx context.Context, id uint64) error {
	return mapErr(promote(ctx, a.cli, id))
}

// RemoveMember removes the member named name from the cluster. A member
// that has not started yet has no name; it can be named by its ID in
// hexadecimal, as [MemberStatus] prints it. Removing a running member
// stops it. Like [Admin.AddLearner], RemoveMember asks again while etcd
// refuses because a member joined less than 5 s ago, until ctx ends. A
// name no member has is [ErrNoSuchMember].
func (a *Admin) RemoveMember(ctx context.Context, name string) error {
	return mapErr(removeMember(ctx, a.cli, name))
}

// UpdatePeerURLs replaces the peer URLs of member id, as etcdctl member
// update does: the only way to move a member to new peer URLs, since etcd
// keeps them in the cluster's membership, not in the member's
// configuration. Like [Admin.AddLearner] it asks again while etcd refuses
// because a member joined less than 5 s ago.
func (a *Admin) UpdatePeerURLs(ctx context.Context, id uint64, peerURLs []string) error {
	return mapErr(updatePeerURLs(ctx, a.cli, id, peerURLs))
}

// MemberID returns the ID of the member named name. A member that has not
// started has no name; it may be named by its ID in hexadecimal. A name no
// member has is [ErrNoSuchMember].
func (a *Admin) MemberID(ctx context.Context, name string) (uint64, error) {
	id, err := memberID(ctx, a.cli, name)
	return id, mapErr(err)
}

// CountMembers counts the voting members and the learners of the cluster.
func (a *Admin) CountMembers(ctx context.Context) (Membership, error) {
	m, err := countMembers(ctx, a.cli)
	return m, mapErr(err)
}

// IsMember reports whether the cluster has a member id.
func (a *Admin) IsMember(ctx context.Context, id uint64) (bool, error) {
	ms, err := a.MemberList(ctx)
	return slices.ContainsFunc(ms, func(m Member) bool { return m.ID == id }), err
}

// IsLearner reports whether the member id of the cluster is a learner. A
// cluster without member id is [ErrNoSuchMember].
func (a *Admin) IsLearner(ctx context.Context, id uint64) (bool, error) {
	ms, err := a.MemberList(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.ID == id {
			return m.IsLearner, nil
		}
	}
	return false, fmt.Errorf("node: member %x: %w", id, ErrNoSuchMember)
}
