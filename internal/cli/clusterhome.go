package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/fsutil"
	"github.com/parley-chat/parley/internal/node"
)

// A home that belongs to a cluster of machines (parley host, parley
// join-cluster) keeps what it needs in <home>/cluster:
//
//	cluster.json   homeCluster: the machine's name and role, the endpoints, the member's addresses
//	ca.pem         the cluster's CA certificate
//	ca-key.pem     the CA key (mode 0600), on machines that run a member
//	cert.pem       this machine's certificate, followed by the CA's
//	key.pem        its key (mode 0600)
//	crl.der        the revocation list the member enforces
//	quorum-seen    when the member last had a leader: how old a copy read without a quorum is
//
// Plain parley then uses the cluster with no flags: the file is the last
// step of the precedence flag > PARLEY_* variable > file.
const (
	clusterDirName  = "cluster"
	clusterFile     = "cluster.json"
	caCertFile      = "ca.pem"
	caKeyFile       = "ca-key.pem"
	certFile        = "cert.pem"
	keyFile         = "key.pem"
	crlFile         = "crl.der"
	quorumSeenFile  = "quorum-seen"
	homeClusterVers = 1
)

// Defaults of a cluster of machines.
const (
	// DefaultMachineVoters is how many voting members a cluster made with
	// parley host grows to; further members stay learners. Five voters
	// survive two machines off; every write waits for three.
	DefaultMachineVoters = 5
	// Raft timing of a cluster of machines: etcd's defaults, which suit a
	// local network.
	defaultMachineHeartbeat = 100 * time.Millisecond
	defaultMachineElection  = 1000 * time.Millisecond
	// machineMaxLearners lets learners (machines invited as learners, and
	// voters until they are promoted) wait side by side.
	machineMaxLearners = 8
)

// homeCluster is the content of <home>/cluster/cluster.json. Zero fields
// mean: no member (Listen, Advertise, BasePort), etcd's default timing
// (HeartbeatMs, ElectionMs), DefaultMachineVoters (MaxVoters).
type homeCluster struct {
	Version int `json:"version"`
	// Cluster names the cluster (the first host's machine name).
	Cluster string `json:"cluster"`
	// Name is this machine's name in the cluster; Role what it was
	// invited as (node.RoleVoter, RoleLearner, RoleClient).
	Name string `json:"name"`
	Role string `json:"role"`
	// Endpoints are the members' client URLs, as last seen.
	Endpoints []string `json:"endpoints"`
	// Listen is the address the member listens on, Advertise the
	// addresses it publishes, BasePort its client port (peers on the next,
	// invitations on the one after).
	Listen    string   `json:"listen,omitempty"`
	Advertise []string `json:"advertise,omitempty"`
	BasePort  int      `json:"base_port,omitempty"`
	// Raft timing, the same on every member.
	HeartbeatMs int `json:"heartbeat_ms,omitempty"`
	ElectionMs  int `json:"election_ms,omitempty"`
	MaxVoters   int `json:"max_voters,omitempty"`
	// UnsafeNoFsync is for tests only.
	UnsafeNoFsync bool `json:"unsafe_no_fsync,omitempty"`
}

func clusterDir(home string) string { return filepath.Join(home, clusterDirName) }

func clusterPath(home, name string) string { return filepath.Join(clusterDir(home), name) }

// loadHomeCluster reads the home's cluster file; nil, nil if there is
// none.
func loadHomeCluster(home string) (*homeCluster, error) {
	b, err := os.ReadFile(clusterPath(home, clusterFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the home's cluster settings: %w", err)
	}
	var hc homeCluster
	if err := json.Unmarshal(b, &hc); err != nil {
		return nil, fmt.Errorf("%s: %w", clusterPath(home, clusterFile), err)
	}
	if hc.Version != homeClusterVers || hc.Name == "" || !node.ValidRole(hc.Role) {
		return nil, fmt.Errorf("%s: not a cluster file this parley understands", clusterPath(home, clusterFile))
	}
	return &hc, nil
}

// save writes the file atomically.
func (hc *homeCluster) save(home string) error {
	hc.Version = homeClusterVers
	if err := os.MkdirAll(clusterDir(home), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(clusterPath(home, clusterFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save the home's cluster settings: %w", err)
	}
	return nil
}

func (hc *homeCluster) heartbeat() time.Duration {
	if hc.HeartbeatMs > 0 {
		return time.Duration(hc.HeartbeatMs) * time.Millisecond
	}
	return defaultMachineHeartbeat
}

func (hc *homeCluster) election() time.Duration {
	if hc.ElectionMs > 0 {
		return time.Duration(hc.ElectionMs) * time.Millisecond
	}
	return defaultMachineElection
}

func (hc *homeCluster) maxVoters() int {
	if hc.MaxVoters > 0 {
		return hc.MaxVoters
	}
	return DefaultMachineVoters
}

// setEndpoints replaces the endpoints, keeping this machine's own first;
// it reports whether they changed.
func (hc *homeCluster) setEndpoints(eps []string) bool {
	eps = slices.Clone(eps)
	slices.Sort(eps)
	eps = slices.Compact(eps)
	if len(eps) == 0 {
		return false
	}
	old := slices.Clone(hc.Endpoints)
	slices.Sort(old)
	if slices.Equal(old, eps) {
		return false
	}
	hc.Endpoints = eps
	return true
}

// writeSecret writes a file only its owner may read.
func writeSecret(path string, b []byte) error {
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// The member's quorum-seen file holds two times, one a line: when the
// member last had a leader, and when it last looked (every second while
// it runs).

// writeQuorumSeen records that the member looked at checked and last had
// a leader at leader.
func writeQuorumSeen(home string, leader, checked time.Time) {
	p := clusterPath(home, quorumSeenFile)
	tmp := p + ".tmp"
	b := leader.UTC().Format(time.RFC3339Nano) + "\n" + checked.UTC().Format(time.RFC3339Nano) + "\n"
	if err := os.WriteFile(tmp, []byte(b), 0o600); err == nil {
		_ = os.Rename(tmp, p)
	}
}

// readQuorumSeen returns when the home's member last had a leader and
// when it last looked; zero times if unknown.
func readQuorumSeen(home string) (leader, checked time.Time) {
	b, err := os.ReadFile(clusterPath(home, quorumSeenFile))
	if err != nil {
		return time.Time{}, time.Time{}
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return time.Time{}, time.Time{}
	}
	leader, err1 := time.Parse(time.RFC3339Nano, lines[0])
	checked, err2 := time.Parse(time.RFC3339Nano, lines[1])
	if err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}
	}
	return leader, checked
}

// quorumLost reports that the home's member runs (it looked in the last
// 3 s) and has had no leader for longer than two election timeouts: the
// cluster has lost its quorum, not just its leader.
func (hc *homeCluster) quorumLost(home string) bool {
	leader, checked := readQuorumSeen(home)
	now := time.Now()
	return !checked.IsZero() && now.Sub(checked) < 3*time.Second && checked.Sub(leader) > 2*hc.election()
}
