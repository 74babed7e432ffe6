package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parley-chat/parley/internal/node"
)

// DefaultMaxVoters is how many voting members `parley node --join` lets a
// cluster grow to before further members stay learners. etcd advises 5 or
// 7 voters: every write waits for a majority of them.
const DefaultMaxVoters = 7

// nodeFlags are the flags of `parley node`. Those that exist in etcd have
// etcd's names, defaults and meaning, and, as in etcd, may be given as
// ETCD_* environment variables.
type nodeFlags struct {
	name, dataDir                              string
	listenClient, advertiseClient              string
	listenPeer, advertisePeer                  string
	initialCluster, initialState, initialToken string
	certFile, keyFile, trustedCA               string
	clientCertAuth                             bool
	peerCertFile, peerKeyFile, peerTrustedCA   string
	peerClientCertAuth                         bool
	logFile, logLevel                          string
	heartbeatMs, electionMs                    uint
	compactionMode, compactionRetention        string
	quotaBackendBytes                          int64
	snapshotCount                              uint64
	maxRequestBytes                            uint
	unsafeNoFsync                              bool
	join                                       string
	maxVoters                                  int
	joinCACert, joinCert, joinKey              string
}

// parleyOnlyNodeFlags are the flags of `parley node` that etcd does not
// have; they are not read from ETCD_* variables.
var parleyOnlyNodeFlags = map[string]bool{
	"join": true, "max-voters": true, "join-cacert": true, "join-cert": true, "join-key": true,
}

func (a *App) nodeCmd() *cobra.Command {
	var f nodeFlags
	c := &cobra.Command{
		Use:   "node",
		Short: "Run one etcd member of a Parley cluster in the foreground",
		Long: `Run one etcd member, embedded in parley, until interrupted (SIGINT or SIGTERM
stop it cleanly). The flags are etcd's own, with etcd's names and defaults,
and may also be given as ETCD_* environment variables (ETCD_NAME,
ETCD_INITIAL_CLUSTER, ...); a flag wins over its variable. Chat clients
reach the cluster with --endpoints listing the members' client URLs.

To bootstrap a cluster, start every member with the same --initial-cluster
and --initial-cluster-token. To add a member to a running cluster, give it
--join with the client URLs of the cluster instead: it registers itself as
a learner, starts, and once it has caught up promotes itself to a voting
member, unless the cluster already has --max-voters voting members, in
which case it stays a learner.

Events (started, joined, promoted, leader changes, stopping) are printed to
stderr, one line each; etcd's own log goes to --log-file.`,
		Example: `  # a three-member cluster on one machine (one command per terminal)
  parley node --name m1 --data-dir m1 \
    --listen-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-cluster m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2382,m3=http://127.0.0.1:2384
  parley node --name m2 --data-dir m2 \
    --listen-client-urls http://127.0.0.1:2381 --listen-peer-urls http://127.0.0.1:2382 \
    --initial-cluster m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2382,m3=http://127.0.0.1:2384
  ...
  # a fourth member joins the running cluster
  parley node --name m4 --data-dir m4 \
    --listen-client-urls http://127.0.0.1:2385 --listen-peer-urls http://127.0.0.1:2386 \
    --join http://127.0.0.1:2379,http://127.0.0.1:2381`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.etcdEnv(cmd.LocalNonPersistentFlags(), cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.Flags())
			if err != nil {
				return err
			}
			return a.runNode(cmd.Context(), cfg, &f)
		},
	}
	fs := c.Flags()
	fs.StringVar(&f.name, "name", node.DefaultName, "human-readable name of this member, unique in its cluster")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory of the member's data (default ${name}.etcd)")
	fs.StringVar(&f.listenClient, "listen-client-urls", node.DefaultListenClientURL, "comma-separated URLs to serve clients on")
	fs.StringVar(&f.advertiseClient, "advertise-client-urls", "", "comma-separated client URLs to publish to the cluster (default: --listen-client-urls)")
	fs.StringVar(&f.listenPeer, "listen-peer-urls", node.DefaultListenPeerURL, "comma-separated URLs to serve the other members on")
	fs.StringVar(&f.advertisePeer, "initial-advertise-peer-urls", "", "comma-separated peer URLs to announce to the cluster (default: --listen-peer-urls)")
	fs.StringVar(&f.initialCluster, "initial-cluster", "", "every member at bootstrap, as name=peerURL pairs separated by commas (default: this member alone)")
	fs.StringVar(&f.initialState, "initial-cluster-state", node.ClusterStateNew, "new (bootstrap a cluster) or existing (join one; see also --join)")
	fs.StringVar(&f.initialToken, "initial-cluster-token", node.DefaultInitialClusterToken, "token shared by the members of one cluster at bootstrap")
	fs.StringVar(&f.certFile, "cert-file", "", "certificate for https client URLs")
	fs.StringVar(&f.keyFile, "key-file", "", "key for https client URLs")
	fs.StringVar(&f.trustedCA, "trusted-ca-file", "", "CA that signs client certificates (with --client-cert-auth)")
	fs.BoolVar(&f.clientCertAuth, "client-cert-auth", false, "require clients to present a certificate signed by --trusted-ca-file")
	fs.StringVar(&f.peerCertFile, "peer-cert-file", "", "certificate for https peer URLs, also presented to other members")
	fs.StringVar(&f.peerKeyFile, "peer-key-file", "", "key of --peer-cert-file")
	fs.StringVar(&f.peerTrustedCA, "peer-trusted-ca-file", "", "CA that signs the other members' certificates")
	fs.BoolVar(&f.peerClientCertAuth, "peer-client-cert-auth", false, "require other members to present a certificate signed by --peer-trusted-ca-file")
	fs.StringVar(&f.logFile, "log-file", "", "file etcd's own log is appended to (default ${data-dir}/etcd.log)")
	fs.StringVar(&f.logLevel, "log-level", node.DefaultLogLevel, "etcd's log level: debug, info, warn or error")
	fs.UintVar(&f.heartbeatMs, "heartbeat-interval", uint(node.DefaultHeartbeatInterval/time.Millisecond), "raft heartbeat interval, in milliseconds")
	fs.UintVar(&f.electionMs, "election-timeout", uint(node.DefaultElectionTimeout/time.Millisecond), "raft election timeout, in milliseconds (at least 5 heartbeat intervals)")
	fs.StringVar(&f.compactionMode, "auto-compaction-mode", node.DefaultAutoCompactionMode, "periodic or revision")
	fs.StringVar(&f.compactionRetention, "auto-compaction-retention", "", "history kept by auto-compaction: a duration (periodic) or a number of revisions (revision); 0 disables it (default 1h)")
	fs.Int64Var(&f.quotaBackendBytes, "quota-backend-bytes", node.DefaultQuotaBackendBytes, "database size at which etcd stops accepting writes")
	fs.Uint64Var(&f.snapshotCount, "snapshot-count", node.DefaultSnapshotCount, "applied entries between snapshots")
	fs.UintVar(&f.maxRequestBytes, "max-request-bytes", node.DefaultMaxRequestBytes, "largest client request accepted, in bytes")
	fs.BoolVar(&f.unsafeNoFsync, "unsafe-no-fsync", false, "do not fsync; a machine crash can lose or corrupt data (tests only)")
	fs.StringVar(&f.join, "join", "", "comma-separated client URLs of a running cluster to join as a learner, then be promoted")
	fs.IntVar(&f.maxVoters, "max-voters", DefaultMaxVoters, "with --join: stay a learner if the cluster already has this many voting members")
	fs.StringVar(&f.joinCACert, "join-cacert", "", "with --join: CA of the cluster's client URLs (default --trusted-ca-file)")
	fs.StringVar(&f.joinCert, "join-cert", "", "with --join: client certificate for the cluster (default --cert-file)")
	fs.StringVar(&f.joinKey, "join-key", "", "with --join: key of --join-cert (default --key-file)")
	return c
}

// etcdEnv sets every etcd flag among own that was not given on the command
// line from its ETCD_* environment variable, as etcd does: --initial-cluster
// from ETCD_INITIAL_CLUSTER, and so on. all is the command's whole flag
// set, in which they are set.
func (a *App) etcdEnv(own, all *pflag.FlagSet) error {
	var errs []error
	own.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || parleyOnlyNodeFlags[fl.Name] || fl.Name == "help" {
			return
		}
		key := "ETCD_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := a.env.getenv(key); v != "" {
			if err := all.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err: err}
	}
	return nil
}

// config checks the flags and turns them into the member's configuration.
func (f *nodeFlags) config(fs *pflag.FlagSet) (node.Config, error) {
	if f.dataDir == "" {
		f.dataDir = f.name + ".etcd"
	}
	if f.logFile == "" {
		f.logFile = filepath.Join(f.dataDir, "etcd.log")
	}
	if f.join != "" {
		if fs.Changed("initial-cluster") {
			return node.Config{}, usagef("--join and --initial-cluster exclude each other: a joining member learns the cluster from it")
		}
		if fs.Changed("initial-cluster-state") && f.initialState != node.ClusterStateExisting {
			return node.Config{}, usagef("--join joins an existing cluster; --initial-cluster-state %s contradicts it", f.initialState)
		}
		if f.maxVoters < 1 {
			return node.Config{}, usagef("--max-voters must be at least 1")
		}
		f.initialState = node.ClusterStateExisting
	}
	cfg := node.Config{
		Name:                     f.name,
		DataDir:                  f.dataDir,
		ListenClientURLs:         splitList(f.listenClient),
		AdvertiseClientURLs:      splitList(f.advertiseClient),
		ListenPeerURLs:           splitList(f.listenPeer),
		InitialAdvertisePeerURLs: splitList(f.advertisePeer),
		InitialCluster:           f.initialCluster,
		InitialClusterState:      f.initialState,
		InitialClusterToken:      f.initialToken,
		CertFile:                 f.certFile,
		KeyFile:                  f.keyFile,
		TrustedCAFile:            f.trustedCA,
		ClientCertAuth:           f.clientCertAuth,
		PeerCertFile:             f.peerCertFile,
		PeerKeyFile:              f.peerKeyFile,
		PeerTrustedCAFile:        f.peerTrustedCA,
		PeerClientCertAuth:       f.peerClientCertAuth,
		LogFile:                  f.logFile,
		LogLevel:                 f.logLevel,
		AutoCompactionMode:       f.compactionMode,
		AutoCompactionRetention:  f.compactionRetention,
		QuotaBackendBytes:        f.quotaBackendBytes,
		SnapshotCount:            f.snapshotCount,
		MaxRequestBytes:          f.maxRequestBytes,
		HeartbeatInterval:        time.Duration(f.heartbeatMs) * time.Millisecond,
		ElectionTimeout:          time.Duration(f.electionMs) * time.Millisecond,
		UnsafeNoFsync:            f.unsafeNoFsync,
	}
	if f.join != "" {
		// Validated now with a stand-in; Join supplies the real one.
		probe := cfg
		probe.InitialCluster = ""
		if err := probe.Validate(); err != nil {
			return node.Config{}, usageError{err: err}
		}
		return cfg, nil
	}
	if err := cfg.Validate(); err != nil {
		return node.Config{}, usageError{err: err}
	}
	return cfg, nil
}

// peerURLs returns the peer URLs the member announces.
func (f *nodeFlags) peerURLs() []string {
	if u := splitList(f.advertisePeer); len(u) > 0 {
		return u
	}
	return splitList(f.listenPeer)
}

// nodeLog prints a member's events, one line each, on stderr.
type nodeLog struct {
	mu   sync.Mutex
	w    io.Writer
	name string
	what string // the word before the name; "" means "node"
}

func (l *nodeLog) say(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s %s: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), cmp.Or(l.what, "node"), l.name, fmt.Sprintf(format, args...))
}

// event prints what the supervisor of member n saw or did.
func (l *nodeLog) event(n *node.Node, ev node.Event) {
	switch ev.Kind {
	case node.EventLeader:
		switch ev.Leader {
		case 0:
			l.say("no leader (term %d)", ev.Term)
		case n.ID():
			l.say("this member is the leader (term %d)", ev.Term)
		default:
			name := ev.LeaderName
			if name == "" {
				name = "member " + strconv.FormatUint(ev.Leader, 16)
			}
			l.say("leader is %s (%x, term %d)", name, ev.Leader, ev.Term)
		}
	case node.EventPromoted:
		l.say("promoted to a voting member, %v after start; the cluster has %d voting members", ev.After.Round(time.Millisecond), ev.Voters)
	case node.EventPromotedElsewhere:
		l.say("now a voting member (promoted by another client)")
	case node.EventStayingLearner:
		l.say("staying a learner: the cluster has %d voting members (--max-voters %d); this member still replicates the data", ev.Voters, ev.MaxVoters)
	case node.EventNotPromoted:
		l.say("not promoted yet, will retry: %v", ev.Err)
	}
}

// runNode runs the member until ctx ends (a signal) or it stops by itself.
func (a *App) runNode(ctx context.Context, cfg node.Config, f *nodeFlags) error {
	began := time.Now()
	log := &nodeLog{w: a.env.Stderr, name: cfg.Name}
	var joinAdm *node.Admin
	defer func() {
		if joinAdm != nil {
			joinAdm.Close()
		}
	}()
	openJoin := func() (*node.Admin, error) {
		if joinAdm != nil {
			return joinAdm, nil
		}
		eps := splitList(f.join)
		tlsCfg, err := clientTLS(eps, firstNonEmpty(f.joinCACert, f.trustedCA), firstNonEmpty(f.joinCert, f.certFile), firstNonEmpty(f.joinKey, f.keyFile))
		if err != nil {
			return nil, err
		}
		adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: eps, TLS: tlsCfg, LogFile: joinClientLog(cfg)})
		if err != nil {
			return nil, err
		}
		joinAdm = adm
		return adm, nil
	}

	existing := node.HasMember(cfg.DataDir)
	joining := f.join != "" && !existing
	if f.join != "" && existing {
		log.say("%s already holds a member: restarting it; --join only promotes it if it is still a learner", cfg.DataDir)
	}
	if joining {
		adm, err := openJoin()
		if err != nil {
			return err
		}
		log.say("joining the cluster at %s as a learner", f.join)
		jctx, cancel := context.WithTimeout(ctx, max(a.cfg.Timeout, 30*time.Second))
		id, initial, err := adm.Join(jctx, cfg.Name, f.peerURLs())
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				log.say("interrupted before joining")
				return nil
			}
			return fmt.Errorf("join the cluster at %s: %w", f.join, err)
		}
		log.say("added to the cluster as learner %x; starting", id)
		cfg.InitialCluster = initial
		cfg.InitialClusterState = node.ClusterStateExisting
	}

	n, err := node.Start(ctx, cfg, nil)
	if err != nil {
		if ctx.Err() != nil {
			log.say("interrupted before the member was ready; stopped")
			return nil
		}
		if joining {
			return fmt.Errorf("%w (the member stays registered as a learner: run the same command again, or remove it with parley cluster remove)", err)
		}
		return err
	}
	role := "a voting member"
	if n.IsLearner() {
		role = "a learner"
	}
	log.say("started as %s (member %x) in %v; clients on %s, peers on %s; etcd log in %s",
		role, n.ID(), time.Since(began).Round(time.Millisecond),
		strings.Join(n.ClientURLs(), ","), strings.Join(n.PeerURLs(), ","), cfg.LogFile)

	sc := node.SupervisorConfig{Began: began, Report: func(ev node.Event) { log.event(n, ev) }}
	if f.join != "" && n.IsLearner() {
		if adm, err := openJoin(); err != nil {
			log.say("cannot reach the cluster to be promoted: %v", err)
		} else {
			sc.Admin, sc.MaxVoters = adm, f.maxVoters
		}
	}
	sup := node.NewSupervisor(n, sc)
	go sup.Run(ctx)
	defer sup.Stop()

	select {
	case <-ctx.Done():
		log.say("stopping")
		sup.Stop()
		if err := n.Close(); err != nil {
			return err
		}
		log.say("stopped")
		return nil
	case <-n.Done():
		sup.Stop()
		cerr := n.Close()
		if n.Removed() || removedFromCluster(n, f) {
			log.say("removed from the cluster; stopped. Its data in %s can no longer be used: delete it before this machine joins again", cfg.DataDir)
			return cerr
		}
		log.say("stopped by itself: %v", n.Err())
		return errors.Join(n.Err(), cerr)
	}
}

// removedFromCluster asks the other members whether n, which stopped by
// itself, was removed from the cluster: a member removed while it lagged
// learns of it only from its peers, and stops without applying its
// removal.
func removedFromCluster(n *node.Node, f *nodeFlags) bool {
	eps := n.OtherClientURLs()
	if len(eps) == 0 {
		eps = splitList(f.join)
	}
	if len(eps) == 0 {
		return false
	}
	tlsCfg, err := clientTLS(eps, firstNonEmpty(f.joinCACert, f.trustedCA), firstNonEmpty(f.joinCert, f.certFile), firstNonEmpty(f.joinKey, f.keyFile))
	if err != nil {
		return false
	}
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: eps, TLS: tlsCfg})
	if err != nil {
		return false
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	member, err := adm.IsMember(ctx, n.ID())
	return err == nil && !member
}

// joinClientLog is where the joining member's etcd client logs: next to
// etcd's own log.
func joinClientLog(cfg node.Config) string {
	if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o700); err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(cfg.LogFile), "etcd-join-client.log")
}
