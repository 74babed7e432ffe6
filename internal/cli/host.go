package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
)

// hostFlags are the flags of parley host and of parley join-cluster's
// member.
type hostFlags struct {
	listen, advertise, name string
	maxVoters               int
	unsafeNoFsync           bool
}

func (f *hostFlags) register(c *cobra.Command, withVoters bool) {
	fs := c.Flags()
	fs.StringVar(&f.listen, "listen", "", "address to serve on: IP, IP:PORT or :PORT (default all interfaces, port 2379; peers on PORT+1, invitations on PORT+2)")
	fs.StringVar(&f.advertise, "advertise", "", "comma-separated addresses (IPs or DNS names) other machines reach this one by (default: the --listen IP, or this machine's interface addresses)")
	fs.StringVar(&f.name, "name", "", "this machine's name in the cluster (default: its host name)")
	if withVoters {
		fs.IntVar(&f.maxVoters, "max-voters", DefaultMachineVoters, "voting members the cluster grows to; later members stay learners")
	}
	fs.BoolVar(&f.unsafeNoFsync, "unsafe-no-fsync", false, "do not fsync (tests only)")
	_ = fs.MarkHidden("unsafe-no-fsync")
}

func (a *App) hostCmd() *cobra.Command {
	var f hostFlags
	c := &cobra.Command{
		Use:   "host",
		Short: "Run this machine's member of a cluster of machines, over TLS (the first time: make the cluster)",
		Long: `Run this machine's etcd member in the foreground until interrupted, serving
other machines over TLS only: every client and every peer must present a
certificate from the cluster's CA.

The first time, on a home that has never joined a cluster, host makes one:
it creates the cluster's CA and this machine's certificate in the home
(<home>/cluster; the CA key with mode 0600), and moves the home's chat
into it, history included: the member that parley ran on 127.0.0.1 for
this home restarts on the same data, on the machine's addresses. Other
machines join with a line that parley invite prints. After that, host
restarts the member: run it whenever the machine starts.

The member serves clients on port 2379, peers on 2380 and invitations on
2381 (--listen IP:PORT moves all three). It advertises the machine's own
addresses, from its network interfaces, or those of --advertise; never
127.0.0.1.`,
		Example: `  parley host                              # then: parley invite
  parley host --listen 10.0.0.1 --name alice-laptop
  parley host --advertise 203.0.113.7,alice.example.org`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runHost(cmd.Context(), &f, cmd.Flags().Changed("max-voters"))
		},
	}
	f.register(c, true)
	return c
}

// machineAddr is where a member serves.
type machineAddr struct {
	listenIP  string   // IP to bind; "0.0.0.0" for all
	basePort  int      // client port; peers and invitations follow
	advertise []string // IPs or DNS names to publish
}

// resolveAddr works out where this machine's member serves from --listen
// and --advertise.
func resolveAddr(listen, advertise string) (machineAddr, error) {
	ma := machineAddr{listenIP: "0.0.0.0", basePort: node.DefaultBasePort}
	if listen != "" {
		host, port := listen, ""
		if h, p, err := net.SplitHostPort(listen); err == nil {
			host, port = h, p
		}
		if host != "" {
			ip := net.ParseIP(host)
			if ip == nil {
				return ma, usagef("--listen %q: want an IP address, IP:PORT or :PORT", listen)
			}
			ma.listenIP = ip.String()
		}
		if port != "" {
			p, err := strconv.Atoi(port)
			if err != nil || p < 1 || p > 65533 {
				return ma, usagef("--listen %q: bad port", listen)
			}
			ma.basePort = p
		}
	}
	for _, a := range splitList(advertise) {
		if ip := net.ParseIP(a); ip != nil {
			if ip.IsUnspecified() {
				return ma, usagef("--advertise %s: others cannot reach an unspecified address", a)
			}
			a = ip.String()
		} else if strings.ContainsAny(a, ":/ ") {
			return ma, usagef("--advertise %q: want IP addresses or DNS names", a)
		}
		ma.advertise = append(ma.advertise, a)
	}
	if len(ma.advertise) == 0 {
		if ip := net.ParseIP(ma.listenIP); !ip.IsUnspecified() {
			ma.advertise = []string{ma.listenIP}
		} else {
			ips, err := node.MachineAddrs()
			if err != nil {
				return ma, err
			}
			for _, ip := range ips {
				ma.advertise = append(ma.advertise, ip.String())
			}
		}
	}
	// All interfaces: IPv6 too when an advertised address is IPv6 ("::"
	// listens on both where the system allows it).
	if ma.listenIP == "0.0.0.0" && !strings.Contains(listen, "0.0.0.0") {
		for _, a := range ma.advertise {
			if ip := net.ParseIP(a); ip != nil && ip.To4() == nil {
				ma.listenIP = "::"
			}
		}
	}
	return ma, nil
}

// certNames splits advertised addresses into the certificate's IP and DNS
// names, adding the loopback ones so that the machine's own clients may
// use them.
func certNames(adv []string) ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	dns := []string{"localhost"}
	for _, a := range adv {
		if ip := net.ParseIP(a); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, a)
		}
	}
	return ips, dns
}

// defaultMachineName is the host name, as a name parley accepts.
func defaultMachineName() string {
	h, err := os.Hostname()
	if err == nil {
		h, _, _ = strings.Cut(h, ".")
		if n, err := names.ParseUser(strings.ToLower(h)); err == nil {
			return n.String()
		}
	}
	return "machine"
}

func machineName(flag string) (string, error) {
	if flag == "" {
		return defaultMachineName(), nil
	}
	n, err := names.ParseUser(flag)
	if err != nil {
		return "", usagef("--name %q: %v", flag, err)
	}
	return n.String(), nil
}

// runHost makes the cluster (first run) or restarts this machine's
// member, then runs it until ctx ends.
func (a *App) runHost(ctx context.Context, f *hostFlags, votersChanged bool) error {
	home := a.cfg.Home
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	hc := a.home
	if hc != nil && !node.RunsMember(hc.Role) {
		return fmt.Errorf("this machine joined cluster %s as a client (%s): it runs no member; use parley join-cluster with an invitation as voter or learner in another home", hc.Cluster, hc.Name)
	}
	claim, err := node.ClaimLocal(home)
	if errors.Is(err, node.ErrLocalBusy) {
		return usageError{err: fmt.Errorf("another parley process of home %s runs its etcd member", home),
			hint: "quit the parley chats and parley host of this home first (they reconnect when started again)"}
	}
	if err != nil {
		return err
	}
	defer claim.Close()
	log := &nodeLog{w: a.env.Stderr, what: "host"}

	if hc == nil {
		name, err := machineName(f.name)
		if err != nil {
			return err
		}
		if f.maxVoters < 1 {
			return usagef("--max-voters must be at least 1")
		}
		ma, err := resolveAddr(f.listen, f.advertise)
		if err != nil {
			return err
		}
		log.name = name
		hc = &homeCluster{
			Cluster: name, Name: name, Role: node.RoleVoter,
			Listen: ma.listenIP, Advertise: ma.advertise, BasePort: ma.basePort,
			HeartbeatMs: int(defaultMachineHeartbeat / time.Millisecond), ElectionMs: int(defaultMachineElection / time.Millisecond),
			MaxVoters: f.maxVoters, UnsafeNoFsync: f.unsafeNoFsync,
		}
		hc.Endpoints = hc.clientURLs()
		ca, serial, err := a.makeCluster(hc)
		if err != nil {
			return err
		}
		existing := node.HasMember(claim.DataDir())
		if existing {
			log.say("moving this home's chat into cluster %s: its member restarts on the same data, over TLS", name)
		} else {
			log.say("making cluster %s", name)
		}
		if err := hc.save(home); err != nil {
			return err
		}
		log.say("CA digest sha256:%s (in every invitation); CA key in %s", ca.Digest(), clusterPath(home, caKeyFile))
		return a.runMember(ctx, claim, hc, log, memberStart{newCluster: !existing, serial: serial, first: true})
	}
	log.name = hc.Name
	var ms memberStart
	if f.listen != "" || f.advertise != "" {
		ma, err := resolveAddr(f.listen, f.advertise)
		if err != nil {
			return err
		}
		moved := !slices.Equal(ma.advertise, hc.Advertise)
		hc.Listen, hc.Advertise, hc.BasePort = ma.listenIP, ma.advertise, ma.basePort
		if moved {
			// The certificate names the addresses the machine serves on.
			if ms.serial, err = a.reissue(hc); err != nil {
				return err
			}
			log.say("now advertising %s: new certificate (serial %s)", strings.Join(ma.advertise, ","), ms.serial)
		}
	}
	if votersChanged {
		hc.MaxVoters = f.maxVoters
	}
	if err := hc.save(home); err != nil {
		return err
	}
	// A first host whose member never started has no data and nobody to
	// join: it bootstraps the cluster again.
	ms.newCluster = !node.HasMember(claim.DataDir()) && hc.Cluster == hc.Name && slices.Equal(hc.Endpoints, hc.clientURLs())
	return a.runMember(ctx, claim, hc, log, ms)
}

// reissue gives this machine a new key and certificate for its current
// addresses, signed with its copy of the CA key, and returns the serial.
func (a *App) reissue(hc *homeCluster) (string, error) {
	home := a.cfg.Home
	ca, err := node.LoadCA(clusterPath(home, caCertFile), clusterPath(home, caKeyFile))
	if err != nil {
		return "", err
	}
	ips, dns := certNames(hc.Advertise)
	keyPEM, csrDER, err := node.NewKeyAndCSR(hc.Name, ips, dns)
	if err != nil {
		return "", err
	}
	csr, err := node.ParseCSR(csrDER)
	if err != nil {
		return "", err
	}
	serial, err := node.NewSerial()
	if err != nil {
		return "", err
	}
	cert, err := ca.Issue(csr, hc.Name, node.CertMember, serial)
	if err != nil {
		return "", err
	}
	if err := writeSecret(clusterPath(home, keyFile), keyPEM); err != nil {
		return "", err
	}
	if err := writeSecret(clusterPath(home, certFile), cert); err != nil {
		return "", err
	}
	return node.SerialString(serial), nil
}

// makeCluster creates the CA, this machine's certificate and an empty
// revocation list in the home, and returns the CA and the certificate's
// serial.
func (a *App) makeCluster(hc *homeCluster) (*node.CA, string, error) {
	home := a.cfg.Home
	if err := os.MkdirAll(clusterDir(home), 0o700); err != nil {
		return nil, "", err
	}
	ca, err := node.NewCA(hc.Cluster)
	if err != nil {
		return nil, "", err
	}
	ips, dns := certNames(hc.Advertise)
	keyPEM, csrDER, err := node.NewKeyAndCSR(hc.Name, ips, dns)
	if err != nil {
		return nil, "", err
	}
	csr, err := node.ParseCSR(csrDER)
	if err != nil {
		return nil, "", err
	}
	serial, err := node.NewSerial()
	if err != nil {
		return nil, "", err
	}
	cert, err := ca.Issue(csr, hc.Name, node.CertMember, serial)
	if err != nil {
		return nil, "", err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, "", err
	}
	crl, err := ca.CRL(nil, 1)
	if err != nil {
		return nil, "", err
	}
	for _, w := range []struct {
		name string
		data []byte
	}{{caKeyFile, caKey}, {keyFile, keyPEM}, {certFile, cert}, {crlFile, crl}, {caCertFile, ca.PEM()}} {
		if err := writeSecret(clusterPath(home, w.name), w.data); err != nil {
			return nil, "", err
		}
	}
	return ca, node.SerialString(serial), nil
}

// clientURLs are the client URLs the member advertises.
func (hc *homeCluster) clientURLs() []string {
	return hc.urls(node.PortsFrom(hc.BasePort).Client)
}

func (hc *homeCluster) peerURLs() []string {
	return hc.urls(node.PortsFrom(hc.BasePort).Peer)
}

// joinAddrs are the host:port of the invitation endpoint.
func (hc *homeCluster) joinAddrs() []string {
	var out []string
	for _, h := range hc.Advertise {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(node.PortsFrom(hc.BasePort).Join)))
	}
	return out
}

func (hc *homeCluster) urls(port int) []string {
	var out []string
	for _, h := range hc.Advertise {
		out = append(out, "https://"+net.JoinHostPort(h, strconv.Itoa(port)))
	}
	return out
}

func (hc *homeCluster) listenURL(port int) string {
	return "https://" + net.JoinHostPort(hc.Listen, strconv.Itoa(port))
}

// machineOS names the system for the machine record.
func machineOS() string { return runtime.GOOS + "/" + runtime.GOARCH }
