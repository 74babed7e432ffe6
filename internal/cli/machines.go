package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// machineJSON is a member's machine in parley cluster status --json.
type machineJSON struct {
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
	Invited  string `json:"invited_as,omitempty"`
	Joined   string `json:"joined,omitempty"`
}

// machinesByName reads the machine records of a cluster of machines;
// empty for other clusters (or when they cannot be read).
func (a *App) machinesByName(ctx context.Context, st *store.Client) map[string]store.Machine {
	out := map[string]store.Machine{}
	ms, err := st.Machines(ctx, true)
	if err != nil {
		return out
	}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

// printMachines lists the machines of a cluster of machines below the
// members, each with its health, and warns about two voters.
func (a *App) printMachines(ctx context.Context, w io.Writer, st *store.Client, ms []node.MemberStatus) {
	voters := 0
	for _, m := range ms {
		if !m.IsLearner {
			voters++
		}
	}
	machines, err := st.Machines(ctx, true)
	if err != nil || len(machines) == 0 {
		return
	}
	members := map[string]node.MemberStatus{}
	for _, m := range ms {
		members[m.Name] = m
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tINVITED AS\tMEMBER\tHEALTH\tHOST\tSYSTEM\tJOINED")
	for _, mc := range machines {
		role, health := "-", "no member"
		if m, ok := members[mc.Name]; ok {
			role, health = memberRole(m), "down"
			if m.Reachable {
				health = "up"
			}
		} else if node.RunsMember(mc.Role) {
			health = "not a member (yet, or removed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mc.Name, mc.Role, role, health, cmpOrDash(mc.Hostname), cmpOrDash(mc.OS), mc.Joined.Local().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	if voters == 2 {
		a.warn("the cluster has 2 voting members: this chat stops when either machine is off; add a third member (parley invite)")
	}
}

// removeMachine removes a member, and in a cluster of machines revokes
// the machine's certificate: first the member (etcd may refuse, when too
// few voters would be left), then the certificate, so that a refusal
// leaves everything as it was.
func (a *App) removeMachine(ctx context.Context, w io.Writer, adm *node.Admin, st *store.Client, name string) error {
	err := adm.RemoveMember(ctx, name)
	removed := err == nil
	if err != nil && !errors.Is(err, node.ErrNoSuchMember) {
		return err
	}
	if removed {
		fmt.Fprintf(w, "removed %s\n", name)
	}
	m, rerr := st.RevokeMachine(ctx, name, "removed with parley cluster remove at "+time.Now().UTC().Format(time.RFC3339))
	switch {
	case rerr == nil:
		fmt.Fprintf(w, "revoked the certificate of machine %s (serial %s): every member refuses it from now on\n", m.Name, m.Serial)
		return nil
	case errors.Is(rerr, store.ErrNotFound) && removed:
		return nil
	case errors.Is(rerr, store.ErrNotFound):
		return err
	}
	return rerr
}
