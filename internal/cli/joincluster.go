package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

func (a *App) joinClusterCmd() *cobra.Command {
	var f hostFlags
	c := &cobra.Command{
		Use:   "join-cluster TOKEN",
		Short: "Join this machine to a cluster with an invitation from parley invite",
		Long: `Join this machine to the cluster that made TOKEN (a line printed by parley
invite on one of its members; '-' reads it from stdin).

First the cluster's identity is checked: the machine at the invitation's
address must present the CA whose SHA-256 digest the invitation carries,
before anything secret is sent. Then this machine makes a key, sends a
certificate request with the invitation's secret, and gets back its
certificate, signed by the cluster's CA. The certificate, the CA and the
cluster's endpoints are saved in the home (<home>/cluster); from then on
plain parley on this machine uses the cluster, with no flags.

Invited as a client, this machine is done. Invited as a voter or a
learner, it also runs an etcd member, in the foreground, as parley host
does: it joins as a learner, catches up, and a voter is promoted once it
has (up to the cluster's limit of voters, 5 by default). After a restart,
run parley host to start the member again.

Exit status: 5 the invitation is not recognised, 6 it has expired, 7 it
was used already, 8 it was revoked, 9 the cluster's CA does not match
the invitation (another cluster, or someone in between), 3 no member
could be reached.`,
		Example: `  parley join-cluster parley1:5e0c…:3f2a9c…:Qk…@192.168.1.20:2381
  ssh alice-laptop parley invite --as client | parley join-cluster -`,
		Args: args(1, "the invitation (a line from parley invite)"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			text := argv[0]
			if text == "-" {
				b, err := io.ReadAll(io.LimitReader(a.env.Stdin, 64<<10))
				if err != nil {
					return err
				}
				text = string(b)
			}
			return a.joinCluster(cmd.Context(), text, &f)
		},
	}
	f.register(c, false)
	return c
}

// joinCluster redeems the invitation and, for a member, runs it.
func (a *App) joinCluster(ctx context.Context, text string, f *hostFlags) error {
	began := time.Now()
	tok, err := node.ParseToken(text)
	if err != nil {
		return usageError{err: err, hint: "pass the whole line parley invite printed, in quotes"}
	}
	home := a.cfg.Home
	if a.home != nil {
		return usageError{err: fmt.Errorf("home %s already belongs to cluster %s, as machine %s (%s)", home, a.home.Cluster, a.home.Name, a.home.Role),
			hint: "use --home for another home, or leave the cluster first"}
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	name, err := machineName(f.name)
	if err != nil {
		return err
	}
	// A member's data goes where the home's own member had it: take the
	// lock first, and refuse a home whose chat lives in it.
	claim, err := node.ClaimLocal(home)
	if errors.Is(err, node.ErrLocalBusy) {
		return usageError{err: fmt.Errorf("another parley process of home %s runs its etcd member", home),
			hint: "quit the parley chats of this home first"}
	}
	if err != nil {
		return err
	}
	defer claim.Close()
	if node.HasMember(claim.DataDir()) {
		return usageError{err: fmt.Errorf("home %s holds a chat of its own (%s); joining a cluster would leave it behind", home, claim.DataDir()),
			hint: "join from a new home (--home DIR), or make this home's chat the cluster with parley host and invite the others"}
	}

	ma, addrErr := resolveAddr(f.listen, f.advertise)
	if addrErr != nil && (f.listen != "" || f.advertise != "") {
		return addrErr
	}
	ips, dns := certNames(ma.advertise)
	keyPEM, csr, err := node.NewKeyAndCSR(name, ips, dns)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Fprintf(a.env.Stderr, "parley: checking the cluster at %s against the invitation's CA digest %s…\n", strings.Join(tok.Endpoints, ","), tok.Digest.String()[:16])
	jctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	resp, err := node.RequestJoin(jctx, tok, node.JoinRequest{CSR: csr, Name: name, Hostname: host, OS: machineOS()})
	cancel()
	if err != nil {
		if !errors.Is(err, node.ErrDigestMismatch) && !errors.As(err, new(*node.RefusedError)) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return fmt.Errorf("join the cluster: %w", err)
	}
	member := node.RunsMember(resp.Role)
	if member && addrErr != nil {
		return fmt.Errorf("invited as a %s, this machine must serve the others: %w (ask for a new invitation, and pass --advertise)", resp.Role, addrErr)
	}
	hc := &homeCluster{
		Cluster: resp.Cluster, Name: resp.Name, Role: resp.Role, Endpoints: resp.ClientURLs,
		HeartbeatMs: resp.HeartbeatMs, ElectionMs: resp.ElectionMs, MaxVoters: resp.MaxVoters,
	}
	files := []struct {
		name string
		data []byte
	}{{caCertFile, resp.CA}, {keyFile, keyPEM}, {certFile, resp.Cert}}
	if member {
		hc.Listen, hc.Advertise, hc.BasePort = ma.listenIP, ma.advertise, ma.basePort
		hc.UnsafeNoFsync = f.unsafeNoFsync
		crl := resp.CRL
		if len(crl) == 0 {
			ca, err := node.ParseCA(resp.CA, resp.CAKey)
			if err == nil {
				crl, err = ca.CRL(nil, 1)
			}
			if err != nil {
				return err
			}
		}
		files = append(files, struct {
			name string
			data []byte
		}{caKeyFile, resp.CAKey}, struct {
			name string
			data []byte
		}{crlFile, crl})
	}
	if err := os.MkdirAll(clusterDir(home), 0o700); err != nil {
		return err
	}
	for _, w := range files {
		if err := writeSecret(clusterPath(home, w.name), w.data); err != nil {
			return err
		}
	}
	if err := hc.save(home); err != nil {
		return err
	}
	a.home = hc
	fmt.Fprintf(a.env.Stdout, "joined cluster %s as %s (%s) in %v\n", hc.Cluster, hc.Name, hc.Role, time.Since(began).Round(time.Millisecond))
	if !member {
		fmt.Fprintf(a.env.Stderr, "parley: this machine uses the cluster at %s; run parley to chat\n", strings.Join(hc.Endpoints, ","))
		return nil
	}
	log := &nodeLog{w: a.env.Stderr, what: "host", name: hc.Name}
	log.say("this machine runs a member of cluster %s; keep this command running (after a restart: parley host)", hc.Cluster)
	return a.runMember(ctx, claim, hc, log, memberStart{began: began})
}
