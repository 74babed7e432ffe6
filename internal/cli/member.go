package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// memberStart says how runMember starts the member.
type memberStart struct {
	// newCluster bootstraps a cluster of this member alone; otherwise a
	// member with no data joins the cluster of the home's endpoints.
	newCluster bool
	// first is the first run after parley host made the cluster.
	first bool
	// serial is this machine's certificate serial, when known.
	serial string
	// began is when the command started; zero means now.
	began time.Time
}

// memberRunner is one machine's member while it runs, with what it
// serves beside etcd: the invitation endpoint and the revocation list.
// Its fields are set before the goroutines start and not changed after,
// except revoked (atomic) and hc, which only the refresh goroutine
// touches once they run.
type memberRunner struct {
	a     *App
	home  string
	hc    *homeCluster
	log   *nodeLog
	ca    *node.CA
	st    *store.Client
	adm   *node.Admin
	n     *node.Node
	start memberStart

	revoked atomic.Pointer[map[string]bool] // serials, hexadecimal
	crlNum  int64                           // only the revocation goroutine
	crlSet  []string                        // only the revocation goroutine
	// shutOut is closed by tend when every other member refuses this
	// machine's certificate: it was removed, and the revocation reached
	// the others before the removal reached this member, which then
	// cannot learn of it from them.
	shutOut     chan struct{}
	shutOutOnce sync.Once
}

// runMember starts this machine's member and runs it, with the
// invitation endpoint, until ctx ends or the member stops by itself.
func (a *App) runMember(ctx context.Context, claim *node.Claim, hc *homeCluster, log *nodeLog, ms memberStart) error {
	if ms.began.IsZero() {
		ms.began = time.Now()
	}
	home := a.cfg.Home
	r := &memberRunner{a: a, home: home, hc: hc, log: log, start: ms, shutOut: make(chan struct{})}
	ca, err := node.LoadCA(clusterPath(home, caCertFile), clusterPath(home, caKeyFile))
	if err != nil {
		return fmt.Errorf("this machine's copy of the cluster CA: %w", err)
	}
	r.ca = ca
	r.loadCRL()
	if r.start.serial == "" {
		if c, err := tls.LoadX509KeyPair(clusterPath(home, certFile), clusterPath(home, keyFile)); err == nil && c.Leaf != nil {
			r.start.serial = node.SerialString(c.Leaf.SerialNumber)
		}
	}

	ports := node.PortsFrom(hc.BasePort)
	joinL, err := net.Listen("tcp", net.JoinHostPort(hc.Listen, fmt.Sprint(ports.Join)))
	if err != nil {
		return fmt.Errorf("serve invitations on %s port %d: %w", hc.Listen, ports.Join, err)
	}
	defer joinL.Close()

	st, adm, err := a.memberClient(hc)
	if err != nil {
		return err
	}
	r.st, r.adm = st, adm
	defer st.Close()
	defer adm.Close()

	cfg := r.config(claim)
	if !node.HasMember(cfg.DataDir) && !ms.newCluster {
		log.say("joining the cluster at %s as a learner", strings.Join(hc.Endpoints, ","))
		jctx, cancel := context.WithTimeout(ctx, max(a.cfg.Timeout, 60*time.Second))
		id, initial, err := adm.Join(jctx, hc.Name, hc.peerURLs())
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("join the cluster at %s: %w", strings.Join(hc.Endpoints, ","), err)
		}
		log.say("added to the cluster as learner %x; starting", id)
		cfg.InitialCluster = initial
		cfg.InitialClusterState = node.ClusterStateExisting
	}
	n, err := node.Start(ctx, cfg, a.logger())
	if err != nil {
		if ctx.Err() != nil {
			log.say("interrupted before the member was ready; stopped")
			return nil
		}
		return err
	}
	r.n = n
	if err := claim.MarkHosted(); err != nil {
		n.Close()
		return err
	}
	role := "a voting member"
	if n.IsLearner() {
		role = "a learner"
	}
	log.say("started as %s (member %x) in %v; clients on %s, peers on %s, invitations on %s; etcd log in %s",
		role, n.ID(), time.Since(ms.began).Round(time.Millisecond),
		strings.Join(n.ClientURLs(), ","), strings.Join(n.PeerURLs(), ","), strings.Join(hc.joinAddrs(), ","), cfg.LogFile)

	if err := r.settle(ctx); err != nil {
		log.say("%v", err)
	}
	cert, err := tls.LoadX509KeyPair(clusterPath(home, certFile), clusterPath(home, keyFile))
	if err != nil {
		n.Close()
		return fmt.Errorf("this machine's certificate: %w", err)
	}
	boot, err := node.NewBootstrap(node.BootstrapConfig{
		CA: ca, Cert: cert, Admit: r.admit, Revoked: r.isRevoked, Log: a.logger(),
	})
	if err != nil {
		n.Close()
		return err
	}

	sc := node.SupervisorConfig{Began: ms.began, Report: func(ev node.Event) { log.event(n, ev) }}
	if hc.Role == node.RoleVoter && n.IsLearner() {
		sc.Admin, sc.MaxVoters = adm, hc.maxVoters()
	}
	sup := node.NewSupervisor(n, sc)
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(ctx)
	wg.Go(func() { _ = boot.Serve(joinL) })
	wg.Go(func() { sup.Run(bg) })
	wg.Go(func() { r.watchRevocations(bg) })
	wg.Go(func() { r.tend(bg) })
	if ms.first {
		log.say("ready: invite the other machines with parley invite (on any member)")
	}
	stop := func() {
		stopBG()
		boot.Close()
		wg.Wait()
	}

	select {
	case <-ctx.Done():
		log.say("stopping")
		stop()
		if err := n.Close(); err != nil {
			return err
		}
		log.say("stopped")
		return nil
	case <-r.shutOut:
		stop()
		cerr := n.Close()
		log.say("every other member refuses this machine's certificate: it was removed from the cluster and its certificate revoked; stopped. Its data in %s can no longer be used: join again with a new invitation in a new home", cfg.DataDir)
		return cerr
	case <-n.Done():
		stop()
		cerr := n.Close()
		if n.Removed() {
			log.say("removed from the cluster; stopped. This machine's certificate is revoked and its data in %s can no longer be used: join again with a new invitation in a new home", cfg.DataDir)
			return cerr
		}
		log.say("stopped by itself: %v", n.Err())
		return errors.Join(n.Err(), cerr)
	}
}

// config is the member's etcd configuration: TLS for clients and peers,
// both required to present certificates from the CA, with the
// revocation list.
func (r *memberRunner) config(claim *node.Claim) node.Config {
	hc := r.hc
	ports := node.PortsFrom(hc.BasePort)
	f := func(n string) string { return clusterPath(r.home, n) }
	return node.Config{
		Name:                     hc.Name,
		DataDir:                  claim.DataDir(),
		LogFile:                  claim.LogFile(),
		ListenClientURLs:         []string{hc.listenURL(ports.Client)},
		AdvertiseClientURLs:      hc.clientURLs(),
		ListenPeerURLs:           []string{hc.listenURL(ports.Peer)},
		InitialAdvertisePeerURLs: hc.peerURLs(),
		InitialClusterToken:      "parley-" + r.ca.Digest().String()[:16],
		CertFile:                 f(certFile),
		KeyFile:                  f(keyFile),
		TrustedCAFile:            f(caCertFile),
		ClientCertAuth:           true,
		PeerCertFile:             f(certFile),
		PeerKeyFile:              f(keyFile),
		PeerTrustedCAFile:        f(caCertFile),
		PeerClientCertAuth:       true,
		// Machines reach each other through NAT and VPNs, from addresses
		// their certificates need not name; the CA and the revocation
		// list say who they are.
		PeerSkipClientSANVerify: true,
		CRLFile:                 f(crlFile),
		CertRevoked:             r.isRevoked,
		MaxLearners:             machineMaxLearners,
		HeartbeatInterval:       hc.heartbeat(),
		ElectionTimeout:         hc.election(),
		UnsafeNoFsync:           hc.UnsafeNoFsync,
	}
}

// memberClient connects to the cluster with this machine's certificate,
// its own member first: for the records and to administer the
// membership.
func (a *App) memberClient(hc *homeCluster) (*store.Client, *node.Admin, error) {
	eps := append(hc.clientURLs(), hc.Endpoints...)
	slices.Sort(eps)
	eps = slices.Compact(eps)
	tlsCfg, err := clientTLS(eps, clusterPath(a.cfg.Home, caCertFile), clusterPath(a.cfg.Home, certFile), clusterPath(a.cfg.Home, keyFile))
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(store.Config{Endpoints: eps, TLS: tlsCfg, Logger: a.logger(), LogFile: a.clientLogFile()})
	if err != nil {
		return nil, nil, err
	}
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: eps, TLS: tlsCfg, LogFile: a.clientLogFile()})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, adm, nil
}

func (a *App) clientLogFile() string {
	dir := filepath.Join(a.cfg.Home, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "etcd-client.log")
}

// settle brings the membership in line with this run: the member's peer
// URLs (which etcd keeps in the membership: after the move from the
// loopback member, or a change of --advertise) and its machine record.
func (r *memberRunner) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	want := r.n.PeerURLs()
	members, err := r.adm.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("check the member's peer URLs: %w", err)
	}
	for _, m := range members {
		if m.ID != r.n.ID() {
			continue
		}
		have := slices.Clone(m.PeerURLs)
		slices.Sort(have)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(have, w) {
			if err := r.adm.UpdatePeerURLs(ctx, r.n.ID(), want); err != nil {
				return err
			}
			r.log.say("peer URLs updated in the membership: %s (were %s)", strings.Join(want, ","), strings.Join(m.PeerURLs, ","))
		}
	}
	if r.start.serial == "" {
		return nil
	}
	host, _ := os.Hostname()
	return r.st.PutMachine(ctx, store.Machine{
		Name: r.hc.Name, Role: r.hc.Role, Hostname: host, OS: machineOS(), Serial: r.start.serial,
		Joined: r.joinedTime(ctx), JoinURLs: r.hc.joinAddrs(),
	})
}

// joinedTime keeps the machine record's join time across restarts.
func (r *memberRunner) joinedTime(ctx context.Context) time.Time {
	ms, err := r.st.Machines(ctx, true)
	if err == nil {
		for _, m := range ms {
			if m.Name == r.hc.Name && !m.Joined.IsZero() {
				return m.Joined
			}
		}
	}
	return time.Now().UTC()
}

func (r *memberRunner) isRevoked(c *x509.Certificate) bool {
	m := r.revoked.Load()
	return m != nil && (*m)[node.SerialString(c.SerialNumber)]
}

// loadCRL fills the revoked set from the revocation list in the home.
func (r *memberRunner) loadCRL() {
	set := map[string]bool{}
	if b, err := os.ReadFile(clusterPath(r.home, crlFile)); err == nil {
		if l, err := x509.ParseRevocationList(b); err == nil {
			for _, e := range l.RevokedCertificateEntries {
				set[node.SerialString(e.SerialNumber)] = true
			}
			if l.Number != nil {
				r.crlNum = l.Number.Int64()
			}
		}
	}
	for s := range set {
		r.crlSet = append(r.crlSet, s)
	}
	slices.Sort(r.crlSet)
	r.revoked.Store(&set)
}

// watchRevocations keeps the revocation list in the home, which etcd
// reads for every connection, and the set the member checks requests
// against, equal to the revoked certificates in etcd.
func (r *memberRunner) watchRevocations(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := r.syncRevocations(ctx)
		if err == nil {
			err = r.st.WatchRevocations(ctx, rev+1, func() {
				if _, err := r.syncRevocations(ctx); err != nil && ctx.Err() == nil {
					r.log.say("cannot update the revocation list: %v", err)
				}
			})
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *memberRunner) syncRevocations(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, rev, err := r.st.Revocations(lctx)
	if err != nil {
		return 0, err
	}
	set := map[string]bool{}
	var serials []string
	for _, rv := range list {
		if !set[rv.Serial] {
			set[rv.Serial] = true
			serials = append(serials, rv.Serial)
		}
	}
	slices.Sort(serials)
	if slices.Equal(serials, r.crlSet) {
		return rev, nil
	}
	r.crlNum++
	crl, err := r.ca.CRL(serials, r.crlNum)
	if err != nil {
		return 0, err
	}
	if err := writeSecret(clusterPath(r.home, crlFile), crl); err != nil {
		return 0, err
	}
	r.revoked.Store(&set)
	r.crlSet = serials
	for _, rv := range list {
		r.log.say("certificate of %s (serial %s) revoked: refused from now on", rv.Name, rv.Serial)
	}
	return rev, nil
}

// tend records when the member last had a leader (how old a copy read
// without a quorum is), keeps the home's endpoints in line with the
// members, and warns about a cluster of two voters.
func (r *memberRunner) tend(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastVoters := -1
	refresh := time.Now()
	var leaderSeen time.Time
	for {
		now := time.Now()
		if id, _ := r.n.Leader(); id != 0 {
			leaderSeen = now
		}
		writeQuorumSeen(r.home, leaderSeen, now)
		if v := r.n.Voters(); v != lastVoters && !r.n.IsLearner() {
			if v == 2 {
				r.log.say("warning: the cluster has 2 voting members: this chat stops when either machine is off; add a third member (parley invite)")
			}
			lastVoters = v
		}
		if time.Since(refresh) > 5*time.Second {
			refresh = time.Now()
			r.refreshEndpoints(ctx)
			r.checkShutOut(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.n.Done():
			return
		case <-t.C:
		}
	}
}

// checkShutOut asks the other members whether they still accept this
// machine's certificate.
func (r *memberRunner) checkShutOut(ctx context.Context) {
	own := r.hc.clientURLs()
	var others []string
	for _, e := range r.hc.Endpoints {
		if !slices.Contains(own, e) {
			others = append(others, e)
		}
	}
	if len(others) == 0 {
		return
	}
	tlsCfg, err := clientTLS(others, clusterPath(r.home, caCertFile), clusterPath(r.home, certFile), clusterPath(r.home, keyFile))
	if err != nil {
		return
	}
	var te *store.TLSError
	if errors.As(store.ProbeTLS(ctx, others, tlsCfg), &te) && te.Problem == store.TLSClientCertRejected {
		r.shutOutOnce.Do(func() { close(r.shutOut) })
	}
}

func (r *memberRunner) refreshEndpoints(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	eps, err := memberClientURLs(ctx, r.adm)
	if err != nil || len(eps) == 0 {
		return
	}
	if r.hc.setEndpoints(eps) {
		if err := r.hc.save(r.home); err != nil {
			r.log.say("cannot save the endpoints: %v", err)
		}
	}
}

// memberClientURLs lists the members' client URLs, from any member's
// copy of the membership.
func memberClientURLs(ctx context.Context, adm *node.Admin) ([]string, error) {
	members, err := adm.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var eps []string
	for _, m := range members {
		eps = append(eps, m.ClientURLs...)
	}
	return eps, nil
}

// admit redeems an invitation for a machine the invitation endpoint
// checked, and says what the machine needs to join.
func (r *memberRunner) admit(ctx context.Context, ad node.Admission) (node.Admitted, error) {
	name, err := names.ParseUser(ad.Name)
	if err != nil {
		name = "machine"
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, m, err := r.st.Redeem(ctx, ad.TokenID, ad.SecretHash, time.Now(), store.Machine{
		Name: name.String(), Hostname: ad.Hostname, OS: ad.OS, Serial: ad.Serial,
	})
	switch {
	case errors.Is(err, store.ErrInviteUnknown):
		return node.Admitted{}, node.ErrTokenWrong
	case errors.Is(err, store.ErrInviteExpired):
		return node.Admitted{}, node.ErrTokenExpired
	case errors.Is(err, store.ErrInviteUsed):
		return node.Admitted{}, node.ErrTokenUsed
	case errors.Is(err, store.ErrInviteRevoked):
		return node.Admitted{}, node.ErrTokenRevoked
	case err != nil:
		return node.Admitted{}, err
	}
	r.log.say("admitted machine %s (%s, %s) with invitation %s", m.Name, m.Role, cmp.Or(ad.Hostname, "?"), ad.TokenID)
	eps, err := memberClientURLs(ctx, r.adm)
	if err != nil {
		eps = r.hc.Endpoints
	}
	ad2 := node.Admitted{
		Name: m.Name, Role: m.Role, ClientURLs: eps, JoinURLs: r.joinURLs(ctx),
		Heartbeat: r.hc.heartbeat(), Election: r.hc.election(), MaxVoters: r.hc.maxVoters(), Cluster: r.hc.Cluster,
	}
	if crl, err := os.ReadFile(clusterPath(r.home, crlFile)); err == nil {
		ad2.CRL = crl
	}
	return ad2, nil
}

// joinURLs lists the invitation endpoints of every member's machine.
func (r *memberRunner) joinURLs(ctx context.Context) []string {
	ms, err := r.st.Machines(ctx, true)
	if err != nil {
		return r.hc.joinAddrs()
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.JoinURLs...)
	}
	return out
}
