package node

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster states accepted by [Config.InitialClusterState].
const (
	// ClusterStateNew bootstraps a new cluster from [Config.InitialCluster].
	ClusterStateNew = "new"
	// ClusterStateExisting joins a cluster that already runs and in which
	// the member was added beforehand (see [Admin.AddLearner]).
	ClusterStateExisting = "existing"
)

// Auto-compaction modes accepted by [Config.AutoCompactionMode].
const (
	// CompactionPeriodic keeps the history of the last
	// [Config.AutoCompactionRetention] (a duration such as "1h").
	CompactionPeriodic = "periodic"
	// CompactionRevision keeps the last [Config.AutoCompactionRetention]
	// revisions (a number such as "10000").
	CompactionRevision = "revision"
)

// Defaults used for the zero value of the corresponding [Config] fields.
const (
	DefaultName                    = "default"
	DefaultListenClientURL         = "http://127.0.0.1:2379"
	DefaultListenPeerURL           = "http://127.0.0.1:2380"
	DefaultInitialClusterToken     = "etcd-cluster"
	DefaultLogLevel                = "info"
	DefaultAutoCompactionMode      = CompactionPeriodic
	DefaultAutoCompactionRetention = "1h"
	DefaultQuotaBackendBytes       = int64(2 << 30) // etcd's own default
	DefaultSnapshotCount           = uint64(10000)  // etcd's own default
	DefaultMaxRequestBytes         = uint(1536 * 1024)
	DefaultHeartbeatInterval       = 100 * time.Millisecond
	DefaultElectionTimeout         = 1000 * time.Millisecond
)

// Config describes one etcd member. The zero value of every field except
// DataDir has a documented meaning; [DefaultConfig] spells the defaults out.
//
// URLs are absolute http or https URLs with an explicit, non-zero port and
// no path, such as "http://127.0.0.1:2379". Port 0 is rejected: etcd would
// advertise it to clients and peers as is. [FreeLoopbackURLs] picks free
// ports on the loopback interface.
type Config struct {
	// Name is the member's name, unique within its cluster. It keys the
	// member's entry in InitialCluster. Zero means DefaultName.
	Name string

	// DataDir is the directory holding the member's write-ahead log,
	// snapshots and database. etcd creates it with mode 0700 if it does not
	// exist. Required.
	DataDir string

	// ListenClientURLs are the URLs the member serves clients on.
	// Zero means DefaultListenClientURL.
	ListenClientURLs []string

	// AdvertiseClientURLs are the client URLs the member publishes to the
	// rest of the cluster. Zero means ListenClientURLs.
	AdvertiseClientURLs []string

	// ListenPeerURLs are the URLs the member serves other members on.
	// Zero means DefaultListenPeerURL.
	ListenPeerURLs []string

	// InitialAdvertisePeerURLs are the peer URLs the member announces when
	// it bootstraps or joins. Zero means ListenPeerURLs.
	InitialAdvertisePeerURLs []string

	// InitialCluster lists every member of the cluster at bootstrap as
	// comma-separated name=peerURL pairs; a name with several peer URLs
	// appears once per URL. It is read only when DataDir holds no member
	// yet. Zero means a single-member cluster made of this member alone:
	// Name=URL for each of InitialAdvertisePeerURLs.
	InitialCluster string

	// InitialClusterState is ClusterStateNew to bootstrap a cluster or
	// ClusterStateExisting to join one. It is read only when DataDir holds
	// no member yet. Zero means ClusterStateNew.
	InitialClusterState string

	// InitialClusterToken distinguishes clusters bootstrapped from the same
	// InitialCluster; every member of a cluster must use the same one.
	// Zero means DefaultInitialClusterToken.
	InitialClusterToken string

	// CertFile and KeyFile are the server certificate and key for https
	// client URLs. Both are required when a client URL is https and are
	// ignored otherwise.
	CertFile string
	KeyFile  string
	// TrustedCAFile verifies client certificates when ClientCertAuth is set.
	TrustedCAFile string
	// ClientCertAuth requires clients to present a certificate signed by
	// TrustedCAFile.
	ClientCertAuth bool

	// PeerCertFile and PeerKeyFile are the certificate and key used both to
	// serve https peer URLs and to connect to other members. Both are
	// required when a peer URL is https.
	PeerCertFile string
	PeerKeyFile  string
	// PeerTrustedCAFile verifies the certificates of other members.
	PeerTrustedCAFile string
	// PeerClientCertAuth requires other members to present a certificate
	// signed by PeerTrustedCAFile.
	PeerClientCertAuth bool
	// PeerSkipClientSANVerify accepts a peer's certificate whatever
	// address the peer connects from. Zero means etcd's default: the
	// address must be one the certificate names, which fails behind NAT
	// or when a machine reaches its peers through another interface than
	// the one it advertises.
	PeerSkipClientSANVerify bool

	// CRLFile is a certificate revocation list (DER) that etcd reads for
	// every new connection, from clients and from peers: a certificate it
	// names is refused. Zero means none. The file must exist while the
	// member runs.
	CRLFile string
	// CertRevoked, if not nil, is asked about the client certificate of
	// every request; a request whose certificate it reports revoked is
	// refused with codes.Unauthenticated. It catches connections made
	// before the certificate was revoked, which CRLFile cannot. It must be
	// safe for concurrent use.
	CertRevoked func(*x509.Certificate) bool

	// MaxLearners is how many learners the cluster admits at once, as the
	// leader sees it. Zero means etcd's default (1).
	MaxLearners int

	// LogFile is the file etcd's own log is appended to, created with mode
	// 0600 (and its directory with mode 0700) if needed. Zero discards
	// etcd's log. etcd never logs to the terminal.
	LogFile string

	// LogLevel is etcd's log level: "debug", "info", "warn" or "error".
	// Zero means DefaultLogLevel.
	LogLevel string

	// AutoCompactionMode is CompactionPeriodic or CompactionRevision.
	// Zero means DefaultAutoCompactionMode.
	//
	// Compaction only drops superseded revisions: the latest revision of
	// every live key is always kept. What it bounds is how far back a
	// watcher may resume; one that falls further behind gets a compacted
	// error and must read the current state again.
	AutoCompactionMode string

	// AutoCompactionRetention is how much history compaction keeps: a
	// duration ("1h", "30m") in periodic mode, a number of revisions in
	// revision mode. "0" disables auto-compaction. Zero means
	// DefaultAutoCompactionRetention in periodic mode and "10000" in
	// revision mode.
	AutoCompactionRetention string

	// QuotaBackendBytes is the database size at which etcd raises a
	// NOSPACE alarm and stops accepting writes until space is freed.
	// Zero means DefaultQuotaBackendBytes (2 GiB); etcd advises against
	// more than 8 GiB.
	QuotaBackendBytes int64

	// SnapshotCount is the number of applied entries after which the
	// member snapshots its state and trims its log. Zero means
	// DefaultSnapshotCount.
	SnapshotCount uint64

	// MaxRequestBytes is the largest client request the member accepts.
	// Zero means DefaultMaxRequestBytes (1.5 MiB).
	MaxRequestBytes uint

	// HeartbeatInterval is the raft heartbeat interval, a multiple of a
	// millisecond. Zero means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration

	// ElectionTimeout is the raft election timeout, at least five
	// heartbeat intervals. It also bounds how long a fresh single-member
	// cluster takes to elect itself. Zero means DefaultElectionTimeout.
	ElectionTimeout time.Duration

	// UnsafeNoFsync skips fsync of the log and database. A crash can then
	// lose or corrupt data. It is meant for tests only.
	UnsafeNoFsync bool
}

// DefaultConfig returns the configuration of a single-member cluster named
// name with its data in dataDir, every other field set to its default.
func DefaultConfig(name, dataDir string) Config {
	return Config{Name: name, DataDir: dataDir}.withDefaults()
}

// withDefaults returns a copy of c with every zero field replaced by the
// value the field's documentation gives.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if len(c.ListenClientURLs) == 0 {
		c.ListenClientURLs = []string{DefaultListenClientURL}
	}
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	if len(c.ListenPeerURLs) == 0 {
		c.ListenPeerURLs = []string{DefaultListenPeerURL}
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		c.InitialAdvertisePeerURLs = c.ListenPeerURLs
	}
	c.ListenClientURLs = slices.Clone(c.ListenClientURLs)
	c.AdvertiseClientURLs = slices.Clone(c.AdvertiseClientURLs)
	c.ListenPeerURLs = slices.Clone(c.ListenPeerURLs)
	c.InitialAdvertisePeerURLs = slices.Clone(c.InitialAdvertisePeerURLs)
	if c.InitialCluster == "" {
		pairs := make([]string, len(c.InitialAdvertisePeerURLs))
		for i, u := range c.InitialAdvertisePeerURLs {
			pairs[i] = c.Name + "=" + u
		}
		c.InitialCluster = strings.Join(pairs, ",")
	}
	if c.InitialClusterState == "" {
		c.InitialClusterState = ClusterStateNew
	}
	if c.InitialClusterToken == "" {
		c.InitialClusterToken = DefaultInitialClusterToken
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.AutoCompactionMode == "" {
		c.AutoCompactionMode = DefaultAutoCompactionMode
	}
	if c.AutoCompactionRetention == "" {
		switch c.AutoCompactionMode {
		case CompactionRevision:
			c.AutoCompactionRetention = "10000"
		default:
			c.AutoCompactionRetention = DefaultAutoCompactionRetention
		}
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	return c
}

// Validate reports whether c, with its zero fields taken as their defaults,
// describes a member etcd can start. It touches neither files nor the
// network.
func (c Config) Validate() error {
	_, err := c.withDefaults().embedConfig(zap.NewNop())
	return err
}

// embedConfig checks c, which must have its defaults applied, and
// translates it into etcd's configuration, logging to lg.
func (c Config) embedConfig(lg *zap.Logger) (*embed.Config, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	if c.DataDir == "" {
		bad("DataDir is required")
	}
	lc := parseURLs("ListenClientURLs", c.ListenClientURLs, bad)
	ac := parseURLs("AdvertiseClientURLs", c.AdvertiseClientURLs, bad)
	lp := parseURLs("ListenPeerURLs", c.ListenPeerURLs, bad)
	ap := parseURLs("InitialAdvertisePeerURLs", c.InitialAdvertisePeerURLs, bad)

	if hasScheme(lc, "https") && (c.CertFile == "" || c.KeyFile == "") {
		bad("CertFile and KeyFile are required for https client URLs")
	}
	if c.ClientCertAuth && c.TrustedCAFile == "" {
		bad("ClientCertAuth requires TrustedCAFile")
	}
	if (hasScheme(lp, "https") || hasScheme(ap, "https")) && (c.PeerCertFile == "" || c.PeerKeyFile == "") {
		bad("PeerCertFile and PeerKeyFile are required for https peer URLs")
	}
	if c.PeerClientCertAuth && c.PeerTrustedCAFile == "" {
		bad("PeerClientCertAuth requires PeerTrustedCAFile")
	}

	switch c.InitialClusterState {
	case ClusterStateNew, ClusterStateExisting:
	default:
		bad("InitialClusterState %q: want %q or %q", c.InitialClusterState, ClusterStateNew, ClusterStateExisting)
	}
	checkInitialCluster(c.Name, c.InitialCluster, c.InitialAdvertisePeerURLs, bad)

	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LogLevel %q: want debug, info, warn or error", c.LogLevel)
	}

	switch c.AutoCompactionMode {
	case CompactionPeriodic:
		if _, err := strconv.Atoi(c.AutoCompactionRetention); err != nil {
			// etcd reads a bare number as hours; anything else must be a
			// duration.
			if d, err := time.ParseDuration(c.AutoCompactionRetention); err != nil || d < 0 {
				bad("AutoCompactionRetention %q: want a duration such as \"1h\" in periodic mode", c.AutoCompactionRetention)
			}
		}
	case CompactionRevision:
		if n, err := strconv.ParseInt(c.AutoCompactionRetention, 10, 64); err != nil || n < 0 {
			bad("AutoCompactionRetention %q: want a number of revisions in revision mode", c.AutoCompactionRetention)
		}
	default:
		bad("AutoCompactionMode %q: want %q or %q", c.AutoCompactionMode, CompactionPeriodic, CompactionRevision)
	}

	if c.QuotaBackendBytes < 0 {
		bad("QuotaBackendBytes %d is negative", c.QuotaBackendBytes)
	}
	if c.HeartbeatInterval < time.Millisecond || c.HeartbeatInterval%time.Millisecond != 0 {
		bad("HeartbeatInterval %v: want a positive whole number of milliseconds", c.HeartbeatInterval)
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval || c.ElectionTimeout%time.Millisecond != 0 {
		bad("ElectionTimeout %v: want a whole number of milliseconds, at least 5 heartbeat intervals (%v)", c.ElectionTimeout, 5*c.HeartbeatInterval)
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("node: invalid config: %w", errors.Join(errs...))
	}

	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = c.DataDir
	ec.ListenClientUrls = lc
	ec.AdvertiseClientUrls = ac
	ec.ListenPeerUrls = lp
	ec.AdvertisePeerUrls = ap
	ec.InitialCluster = c.InitialCluster
	ec.ClusterState = c.InitialClusterState
	ec.InitialClusterToken = c.InitialClusterToken

	ec.ClientTLSInfo.CertFile = c.CertFile
	ec.ClientTLSInfo.KeyFile = c.KeyFile
	ec.ClientTLSInfo.TrustedCAFile = c.TrustedCAFile
	ec.ClientTLSInfo.ClientCertAuth = c.ClientCertAuth
	ec.PeerTLSInfo.CertFile = c.PeerCertFile
	ec.PeerTLSInfo.KeyFile = c.PeerKeyFile
	ec.PeerTLSInfo.TrustedCAFile = c.PeerTrustedCAFile
	ec.PeerTLSInfo.ClientCertAuth = c.PeerClientCertAuth
	ec.PeerTLSInfo.SkipClientSANVerify = c.PeerSkipClientSANVerify
	ec.ClientTLSInfo.CRLFile = c.CRLFile
	ec.PeerTLSInfo.CRLFile = c.CRLFile
	if c.MaxLearners > 0 {
		ec.MaxLearners = c.MaxLearners
	}

	ec.AutoCompactionMode = c.AutoCompactionMode
	ec.AutoCompactionRetention = c.AutoCompactionRetention
	ec.QuotaBackendBytes = c.QuotaBackendBytes
	ec.SnapshotCount = c.SnapshotCount
	ec.MaxRequestBytes = c.MaxRequestBytes
	ec.TickMs = uint(c.HeartbeatInterval / time.Millisecond)
	ec.ElectionMs = uint(c.ElectionTimeout / time.Millisecond)
	ec.UnsafeNoFsync = c.UnsafeNoFsync

	ec.Logger = "zap"
	ec.LogLevel = c.LogLevel
	// LogOutputs is only consulted when no logger builder is set; name
	// something other than the terminal in case that ever changes.
	ec.LogOutputs = []string{"/dev/null"}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	if err := ec.Validate(); err != nil {
		return nil, fmt.Errorf("node: invalid config: %w", err)
	}
	return ec, nil
}

// parseURLs parses the URLs of the field named field, reporting problems to
// bad.
func parseURLs(field string, raw []string, bad func(string, ...any)) []url.URL {
	out := make([]url.URL, 0, len(raw))
	for _, s := range raw {
		u, err := parseMemberURL(s)
		if err != nil {
			bad("%s: %w", field, err)
			continue
		}
		out = append(out, *u)
	}
	return out
}

// parseMemberURL parses s as an etcd client or peer URL.
func parseMemberURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("URL %q: want scheme://host:port only", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return nil, fmt.Errorf("URL %q: want scheme://host:port", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("URL %q: port must be a number between 1 and 65535", s)
	}
	u.Path = ""
	return u, nil
}

func hasScheme(urls []url.URL, scheme string) bool {
	for _, u := range urls {
		if u.Scheme == scheme {
			return true
		}
	}
	return false
}

// checkInitialCluster checks that cluster is a well-formed list of
// name=URL pairs in which the member name appears with exactly its
// advertised peer URLs.
func checkInitialCluster(name, cluster string, advertised []string, bad func(string, ...any)) {
	var own []string
	for pair := range strings.SplitSeq(cluster, ",") {
		// Other members may be nameless: a member that was added but has
		// not started yet has no name.
		n, u, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			bad("InitialCluster %q: want name=URL pairs separated by commas", cluster)
			return
		}
		pu, err := parseMemberURL(u)
		if err != nil {
			bad("InitialCluster: %w", err)
			return
		}
		if n == name {
			own = append(own, pu.String())
		}
	}
	if len(own) == 0 {
		bad("InitialCluster %q does not list this member %q", cluster, name)
		return
	}
	want := make([]string, 0, len(advertised))
	for _, s := range advertised {
		if u, err := parseMemberURL(s); err == nil {
			want = append(want, u.String())
		}
	}
	slices.Sort(own)
	slices.Sort(want)
	if !slices.Equal(own, want) {
		bad("InitialCluster lists %q with %v but InitialAdvertisePeerURLs are %v", name, own, want)
	}
}
