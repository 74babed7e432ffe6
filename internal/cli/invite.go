package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

func (a *App) inviteCmd() *cobra.Command {
	var role string
	var ttl time.Duration
	var uses int
	var asJSON bool
	c := &cobra.Command{
		Use:   "invite",
		Short: "Print a one-line invitation for another machine to join the cluster",
		Long: `Print an invitation: one line to hand to the machine that is to join, which
runs parley join-cluster with it. It carries the addresses of the members
that admit machines, the SHA-256 digest of the cluster's CA certificate
(so the joiner can tell the real cluster from an impostor before it sends
anything), an id and a secret. The cluster stores only a hash of the
secret.

--as voter (the default) makes the machine run a member that is promoted
to a voting member once it has caught up, up to the cluster's limit of
voters (5 by default; the others stay learners); --as learner a member
that never votes; --as client a machine that runs no member.

An invitation admits --uses machines (1 by default: it is consumed in an
etcd transaction, so two machines cannot both use the last use) until
--ttl has passed. parley invite list shows them, parley invite revoke ID
withdraws one.`,
		Example: `  parley invite                        # one voter, valid 24h
  parley invite --as client --ttl 1h
  parley invite list
  parley invite revoke 3f2a9c01b4de`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !node.ValidRole(role) {
				return usagef("--as %q: want voter, learner or client", role)
			}
			if uses < 1 {
				return usagef("--uses must be at least 1")
			}
			if ttl <= 0 {
				return usagef("--ttl must be positive")
			}
			ca, err := a.clusterCA()
			if err != nil {
				return err
			}
			st, err := a.clusterClient()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			machines, err := st.Machines(ctx, false)
			if err != nil {
				return err
			}
			var eps []string
			for _, m := range machines {
				eps = append(eps, m.JoinURLs...)
			}
			if len(eps) == 0 {
				return fmt.Errorf("no member serves invitations yet: run parley host on a machine of the cluster")
			}
			tok, err := node.NewToken(ca.Digest(), eps)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			inv := store.Invite{
				ID: tok.ID, Role: role, SecretHash: tok.SecretHash(), Created: now, Expires: now.Add(ttl),
				Uses: uses, CreatedBy: a.home.Name,
			}
			if err := st.PutInvite(ctx, inv); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"token": tok.String(), "id": tok.ID, "role": role, "expires": inv.Expires.Format(time.RFC3339),
					"uses": uses, "ca_digest": ca.Digest().String(), "endpoints": eps,
				})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.String())
			plural := ""
			if uses > 1 {
				plural = fmt.Sprintf(" (%d uses)", uses)
			}
			fmt.Fprintf(a.env.Stderr, "parley: invitation %s for a %s%s, valid until %s; on the other machine run:\nparley: parley join-cluster '%s'\n",
				tok.ID, role, plural, inv.Expires.Local().Format("2006-01-02 15:04"), tok.String())
			return nil
		},
	}
	c.Flags().StringVar(&role, "as", node.RoleVoter, "what the machine will be: voter, learner or client")
	c.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the invitation is valid")
	c.Flags().IntVar(&uses, "uses", 1, "how many machines it admits")
	c.Flags().BoolVar(&asJSON, "json", false, "print the invitation as a JSON object")
	c.AddCommand(a.inviteListCmd(), a.inviteRevokeCmd())
	return c
}

// clusterCA is the CA of the home's cluster.
func (a *App) clusterCA() (*node.CA, error) {
	if a.home == nil {
		return nil, usageError{err: fmt.Errorf("home %s belongs to no cluster of machines", a.cfg.Home),
			hint: "make one with parley host, or join one with parley join-cluster"}
	}
	return node.LoadCA(clusterPath(a.cfg.Home, caCertFile), "")
}

func (a *App) inviteListCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the invitations: active, used, expired, revoked",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.clusterCA(); err != nil {
				return err
			}
			st, err := a.clusterClient()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			invs, bad, err := st.Invites(ctx)
			if err != nil {
				return err
			}
			for _, b := range bad {
				a.warn("malformed invitation record %s: %v", b.Key, b.Err)
			}
			now := time.Now()
			w := cmd.OutOrStdout()
			if asJSON {
				for _, inv := range invs {
					if err := printJSON(w, map[string]any{
						"id": inv.ID, "role": inv.Role, "state": inv.State(now), "created": inv.Created.Format(time.RFC3339),
						"expires": inv.Expires.Format(time.RFC3339), "uses": inv.Uses, "used": inv.Used,
						"used_by": nonNil(inv.UsedBy), "created_by": inv.CreatedBy,
					}); err != nil {
						return err
					}
				}
				return nil
			}
			if len(invs) == 0 {
				fmt.Fprintln(w, "No invitations. Make one with: parley invite")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tSTATE\tEXPIRES\tUSED\tBY\tMACHINES")
			for _, inv := range invs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", inv.ID, inv.Role, inv.State(now),
					inv.Expires.Local().Format("2006-01-02 15:04"), inv.Used, inv.Uses, cmpOrDash(inv.CreatedBy), cmpOrDash(strings.Join(inv.UsedBy, ",")))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per invitation")
	return c
}

func (a *App) inviteRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an invitation: it admits no machine from now on",
		Args:  args(1, "an invitation id (parley invite list)"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if _, err := a.clusterCA(); err != nil {
				return err
			}
			id := argv[0]
			if t, err := node.ParseToken(id); err == nil {
				id = t.ID // the whole line works too
			}
			st, err := a.clusterClient()
			if err != nil {
				return err
			}
			defer st.Close()
			ctx, cancel := a.op(cmd)
			defer cancel()
			if err := st.RevokeInvite(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked invitation %s\n", id)
			return nil
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func cmpOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
