package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

func (a *App) clusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change the members of the etcd cluster",
		Long: `Inspect and change the membership of the etcd cluster named by --endpoints
(or PARLEY_ENDPOINTS), which these commands require. With https endpoints,
the global --cacert verifies the members and --cert and --key identify this
client to members that require client certificates.

A member is best added with parley node --join, which registers, starts and
promotes it in one command; cluster add is for members started otherwise.`,
		Example: `  parley --endpoints 10.0.0.1:2379,10.0.0.2:2379 cluster status
  parley cluster status --json | jq -r 'select(.reachable|not) | .name'
  parley cluster remove m4
  parley cluster add m4 --peer-urls http://10.0.0.4:2380
  parley --endpoints https://10.0.0.1:2379 --cacert ca.pem --cert client.pem --key client-key.pem cluster status`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("cluster needs a subcommand: status, add, promote or remove (see parley cluster --help)")
		},
	}
	c.AddCommand(a.clusterStatusCmd(), a.clusterAddCmd(), a.clusterPromoteCmd(), a.clusterRemoveCmd())
	return c
}

// clusterConn is how cluster commands reach the cluster of --endpoints:
// its endpoints, TLS configuration and the client log.
func (a *App) clusterConn() (eps []string, tlsCfg *tls.Config, logFile string, err error) {
	eps = a.cfg.Endpoints
	if len(eps) == 0 {
		return nil, nil, "", usagef("cluster commands need the cluster's client URLs: pass --endpoints URL,... or set PARLEY_ENDPOINTS")
	}
	tlsCfg, err = clientTLS(eps, a.cfg.CACert, a.cfg.Cert, a.cfg.Key)
	if err != nil {
		return nil, nil, "", err
	}
	a.dialed, a.dialedTLS = eps, tlsCfg
	a.startProbe(eps, tlsCfg)
	if err := os.MkdirAll(filepath.Join(a.cfg.Home, "logs"), 0o700); err == nil {
		logFile = filepath.Join(a.cfg.Home, "logs", "etcd-client.log")
	}
	return eps, tlsCfg, logFile, nil
}

// clusterClient connects to the cluster of --endpoints for its records
// (machines, invitations).
func (a *App) clusterClient() (*store.Client, error) {
	eps, tlsCfg, logFile, err := a.clusterConn()
	if err != nil {
		return nil, err
	}
	return store.Open(store.Config{Endpoints: eps, TLS: tlsCfg, Username: a.cfg.EtcdUser, Password: a.cfg.EtcdPassword, LogFile: logFile, Logger: a.logger()})
}

// clusterAdmin connects to the cluster of --endpoints to administer its
// membership.
func (a *App) clusterAdmin() (*node.Admin, error) {
	eps, tlsCfg, logFile, err := a.clusterConn()
	if err != nil {
		return nil, err
	}
	return node.OpenAdmin(node.AdminConfig{Endpoints: eps, TLS: tlsCfg, Username: a.cfg.EtcdUser, Password: a.cfg.EtcdPassword, LogFile: logFile})
}

// clusterAdminAndClient opens both, for commands that change the
// membership and the records.
func (a *App) clusterAdminAndClient() (*node.Admin, *store.Client, error) {
	adm, err := a.clusterAdmin()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.clusterClient()
	if err != nil {
		adm.Close()
		return nil, nil, err
	}
	return adm, st, nil
}

// clientTLS returns the TLS configuration of a client of the cluster at
// endpoints: nil if no endpoint is https and no file is given.
func clientTLS(endpoints []string, caFile, certFile, keyFile string) (*tls.Config, error) {
	https := false
	for _, e := range endpoints {
		if strings.HasPrefix(e, "https://") {
			https = true
		}
	}
	if !https && caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case certFile != "" || keyFile != "":
		return nil, usagef("a client certificate needs both its certificate and its key file")
	}
	return cfg, nil
}

// memberJSON is one member in `parley cluster status --json`.
type memberJSON struct {
	Name        string   `json:"name"`
	ID          string   `json:"id"`
	Role        string   `json:"role"`
	Reachable   bool     `json:"reachable"`
	ClientURLs  []string `json:"client_urls"`
	PeerURLs    []string `json:"peer_urls"`
	Leader      string   `json:"leader,omitempty"`
	Version     string   `json:"version,omitempty"`
	RaftTerm    uint64   `json:"raft_term,omitempty"`
	RaftIndex   uint64   `json:"raft_index,omitempty"`
	RaftApplied uint64   `json:"raft_applied,omitempty"`
	DBSize      int64    `json:"db_size,omitempty"`
	DBSizeInUse int64    `json:"db_size_in_use,omitempty"`
	Alarms      []string `json:"alarms,omitempty"`
	Error       string   `json:"error,omitempty"`
	// Machine describes the member's machine in a cluster of machines.
	Machine *machineJSON `json:"machine,omitempty"`
}

// memberRole names what a member is: leader, follower or learner; a voting
// member that does not answer is a "voter".
func memberRole(m node.MemberStatus) string {
	switch {
	case m.IsLearner:
		return "learner"
	case m.Reachable && m.IsLeader:
		return "leader"
	case m.Reachable:
		return "follower"
	default:
		return "voter"
	}
}

func (a *App) clusterStatusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show every member: URLs, whether it answers, its role, raft term and index, database size",
		Long: `Show every member of the cluster: its name and ID, its client and peer URLs,
whether it answers, whether it is the leader, a follower or a learner, its
raft term and index and the size of its database. Members that do not
answer are listed too. While the cluster has no quorum the member list is
taken from any member that answers, and a warning says so.

Exit status 0 means the list was had, even if members are down; 3 means no
member could be reached.`,
		Example: `  parley cluster status
  parley cluster status --json | jq -r 'select(.role == "leader") | .name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, st, err := a.clusterAdminAndClient()
			if err != nil {
				return err
			}
			defer adm.Close()
			defer st.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			// The member list wants a quorum; a short first try leaves
			// time to ask any one member instead.
			lctx, lcancel := context.WithTimeout(ctx, min(a.cfg.Timeout/2, 3*time.Second))
			ms, err := adm.Status(lctx)
			lcancel()
			if err != nil && ctx.Err() == nil {
				var aerr error
				if ms, aerr = adm.StatusAny(ctx); aerr == nil {
					a.warn("the cluster did not answer (no quorum?): members as one member knows them")
					err = nil
				}
			}
			if err != nil {
				return err
			}
			slices.SortFunc(ms, func(x, y node.MemberStatus) int {
				// By name; members not started yet last.
				if (x.Name == "") != (y.Name == "") {
					if x.Name == "" {
						return 1
					}
					return -1
				}
				return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
			})
			w := cmd.OutOrStdout()
			if asJSON {
				machines := a.machinesByName(ctx, st)
				for _, m := range ms {
					j := statusJSON(m, ms)
					if mc, ok := machines[m.Name]; ok {
						j.Machine = &machineJSON{Hostname: mc.Hostname, OS: mc.OS, Invited: mc.Role, Joined: mc.Joined.Format(time.RFC3339)}
					}
					if err := printJSON(w, j); err != nil {
						return err
					}
				}
				return nil
			}
			printStatus(w, ms)
			a.printMachines(ctx, w, st, ms)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per member")
	return c
}

func statusJSON(m node.MemberStatus, all []node.MemberStatus) memberJSON {
	j := memberJSON{
		Name: m.Name, ID: strconv.FormatUint(m.ID, 16), Role: memberRole(m), Reachable: m.Reachable,
		ClientURLs: m.ClientURLs, PeerURLs: m.PeerURLs,
	}
	if j.ClientURLs == nil {
		j.ClientURLs = []string{}
	}
	if m.Reachable {
		j.Version, j.RaftTerm, j.RaftIndex, j.RaftApplied = m.Version, m.RaftTerm, m.RaftIndex, m.RaftApplied
		j.DBSize, j.DBSizeInUse, j.Alarms = m.DBSize, m.DBSizeInUse, m.Errors
		if m.Leader != 0 {
			j.Leader = leaderName(m.Leader, all)
		}
	}
	if m.Err != nil {
		j.Error = oneLine(m.Err)
	}
	return j
}

func leaderName(id uint64, all []node.MemberStatus) string {
	for _, m := range all {
		if m.ID == id && m.Name != "" {
			return m.Name
		}
	}
	return strconv.FormatUint(id, 16)
}

func printStatus(w io.Writer, ms []node.MemberStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tROLE\tSTATUS\tTERM\tINDEX\tDB SIZE\tCLIENT URLS\tPEER URLS")
	voters, answering, votersUp := 0, 0, 0
	leaders := map[uint64]bool{}
	var down []string
	for _, m := range ms {
		name := m.Name
		if name == "" {
			name = "(not started)"
		}
		if !m.IsLearner {
			voters++
		}
		term, index, size, status := "-", "-", "-", "down"
		if m.Reachable {
			answering++
			if !m.IsLearner {
				votersUp++
			}
			status = "up"
			term, index, size = strconv.FormatUint(m.RaftTerm, 10), strconv.FormatUint(m.RaftIndex, 10), humanBytes(m.DBSize)
			if m.Leader != 0 {
				leaders[m.Leader] = true
			}
			if len(m.Errors) > 0 {
				status = "up, " + strings.Join(m.Errors, "; ")
			}
		} else if m.Err != nil {
			down = append(down, fmt.Sprintf("%s: %s", name, oneLine(m.Err)))
		}
		fmt.Fprintf(tw, "%s\t%x\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, m.ID, memberRole(m), status, term, index, size,
			strings.Join(m.ClientURLs, ","), strings.Join(m.PeerURLs, ","))
	}
	tw.Flush()
	leader := "no leader"
	switch len(leaders) {
	case 0:
	case 1:
		for id := range leaders {
			leader = "leader " + leaderName(id, ms)
		}
	default:
		leader = "members disagree about the leader"
	}
	quorum := "has a quorum"
	if votersUp <= voters/2 || len(leaders) == 0 {
		quorum = "has NO quorum: writes wait and chat clients queue their messages"
	}
	plural := "s"
	if len(ms) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%d member%s (%d voting), %d answering; %s; the cluster %s\n", len(ms), plural, voters, answering, leader, quorum)
	for _, d := range down {
		fmt.Fprintln(w, d)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (a *App) clusterAddCmd() *cobra.Command {
	var peerURLs string
	var asJSON bool
	c := &cobra.Command{
		Use:   "add NAME --peer-urls URL[,URL]",
		Short: "Register a new member as a learner and print the settings to start it with",
		Long: `Register a member that you will start yourself as a learner (a member that
receives the data but does not vote, so adding it cannot cost the cluster
its quorum), and print the settings to start it with, as etcdctl member
add does: ETCD_* variables, which parley node reads as etcd does, and the
equivalent flags. Once it runs and has caught up, make it a voting member
with parley cluster promote NAME.

parley node --join does all of this in one command.`,
		Example: `  parley cluster add m4 --peer-urls http://10.0.0.4:2380`,
		Args:    args(1, "the new member's name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			urls := splitList(peerURLs)
			if len(urls) == 0 {
				return usagef("cluster add needs the new member's --peer-urls")
			}
			adm, err := a.clusterAdmin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			id, initial, err := adm.Join(ctx, argv[0], urls)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, map[string]any{
					"id": strconv.FormatUint(id, 16), "name": argv[0], "peer_urls": urls, "learner": true,
					"initial_cluster": initial, "initial_cluster_state": node.ClusterStateExisting,
				})
			}
			fmt.Fprintf(w, "Member %x added to the cluster as a learner\n\n", id)
			fmt.Fprintf(w, "ETCD_NAME=%q\n", argv[0])
			fmt.Fprintf(w, "ETCD_INITIAL_CLUSTER=%q\n", initial)
			fmt.Fprintf(w, "ETCD_INITIAL_ADVERTISE_PEER_URLS=%q\n", strings.Join(urls, ","))
			fmt.Fprintf(w, "ETCD_INITIAL_CLUSTER_STATE=%q\n\n", node.ClusterStateExisting)
			fmt.Fprintf(w, "Start it with those variables set, or with:\n  parley node --name %s --initial-advertise-peer-urls %s --listen-peer-urls %s \\\n    --initial-cluster '%s' --initial-cluster-state existing \\\n    --listen-client-urls ... --data-dir ...\n",
				argv[0], strings.Join(urls, ","), strings.Join(urls, ","), initial)
			fmt.Fprintf(w, "then, once it runs, make it a voting member with: parley cluster promote %s\n", argv[0])
			return nil
		},
	}
	c.Flags().StringVar(&peerURLs, "peer-urls", "", "comma-separated peer URLs the new member will announce")
	c.Flags().BoolVar(&asJSON, "json", false, "print the settings as one JSON object")
	return c
}

func (a *App) clusterPromoteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "promote NAME",
		Short: "Make a learner a voting member once it has caught up",
		Long: `Make the learner NAME (or a member ID in hexadecimal) a voting member. etcd
refuses while the learner is behind the leader; promote asks again until it
is accepted or --timeout passes.`,
		Example: `  parley cluster promote m4`,
		Args:    args(1, "a member name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			adm, err := a.clusterAdmin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			id, err := adm.MemberID(ctx, argv[0])
			if err == nil {
				err = adm.Promote(ctx, id)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "member %s (%x) is a voting member\n", argv[0], id)
			return nil
		},
	}
}

func (a *App) clusterRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a member from the cluster; a running member stops",
		Long: `Remove the member NAME (or a member ID in hexadecimal, for a member that has
never started) from the cluster. A running member stops by itself; its data
directory can no longer be used and must be deleted before that machine
joins again. etcd refuses to remove a voting member when that would leave
too few members up for a quorum.

In a cluster of machines (parley host), NAME may be any machine, a client
too, and its certificate is revoked: every member refuses it from then
on, so the machine cannot come back with it.`,
		Example: `  parley cluster remove m4`,
		Args:    args(1, "a member name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			adm, st, err := a.clusterAdminAndClient()
			if err != nil {
				return err
			}
			defer adm.Close()
			defer st.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			return a.removeMachine(ctx, cmd.OutOrStdout(), adm, st, argv[0])
		},
	}
}
