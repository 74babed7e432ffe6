package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// TestJoin adds a learner with Join, repeats the Join as a restarted
// joiner would, starts and promotes the member, and removes it.
func TestJoin(t *testing.T) {
	first := startNode(t, testConfig(t, "m1"))
	adm := newAdmin(t, first.ClientURLs())
	ctx := testContext(t, 30*time.Second)
	if node.HasMember(testConfig(t, "x").DataDir) {
		t.Fatal("HasMember of a fresh directory")
	}

	cfg := testConfig(t, "m2")
	id, initial, err := adm.Join(ctx, "m2", cfg.ListenPeerURLs)
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	// Joining again before the member started finds the same registration.
	id2, initial2, err := adm.Join(ctx, "m2", cfg.ListenPeerURLs)
	if err != nil || id2 != id || initial2 != initial {
		t.Fatalf("second Join = %x, %q, %v; want %x, %q", id2, initial2, err, id, initial)
	}
	if _, _, err := adm.Join(ctx, "m1", []string{"http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "already has a member of that name") {
		t.Errorf("Join under a running member's name: %v", err)
	}
	if _, _, err := adm.Join(ctx, "m3", first.PeerURLs()); err == nil || !strings.Contains(err.Error(), "already uses peer URLs") {
		t.Errorf("Join with a running member's peer URL: %v", err)
	}
	if m, err := adm.CountMembers(ctx); err != nil || m != (node.Membership{Voters: 1, Learners: 1}) {
		t.Fatalf("CountMembers = %+v, %v", m, err)
	}

	cfg.InitialCluster, cfg.InitialClusterState = initial, node.ClusterStateExisting
	n := startNode(t, cfg)
	if !n.IsLearner() || n.ID() != id {
		t.Fatalf("joined member: learner %v, ID %x, want a learner %x", n.IsLearner(), n.ID(), id)
	}
	if !node.HasMember(cfg.DataDir) {
		t.Error("HasMember of a running member's directory is false")
	}
	if learner, err := adm.IsLearner(ctx, id); err != nil || !learner {
		t.Errorf("IsLearnerID = %v, %v", learner, err)
	}
	if got, err := adm.MemberID(ctx, "m2"); err != nil || got != id {
		t.Errorf("MemberID(m2) = %x, %v", got, err)
	}
	if err := adm.Promote(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2 votes", func() bool { return !n.IsLearner() && n.Voters() == 2 })
	waitFor(t, "m2 knows the leader", func() bool {
		lead, term := n.Leader()
		return lead == first.ID() && term > 0 && n.MemberName(lead) == "m1"
	})

	st, err := adm.StatusAny(ctx)
	if err != nil || len(st) != 2 {
		t.Fatalf("StatusAny = %+v, %v", st, err)
	}
	for _, m := range st {
		if !m.Reachable || m.IsLearner {
			t.Errorf("StatusAny: %+v", m)
		}
	}

	if err := adm.RemoveMember(ctx, "m2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("removed member still runs")
	}
	// The member either applied its own removal (Removed) or was told by
	// m1 that it is gone before it did; then only the cluster knows why.
	if !n.Removed() {
		if member, err := adm.IsMember(ctx, id); err != nil || member {
			t.Errorf("after removal: Removed() = false, IsMember = %v, %v; member stopped with %v", member, err, n.Err())
		}
	}
	if first.Removed() {
		t.Error("a running member reports Removed")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Errors from an unreachable cluster are store's ErrUnavailable, mapped
// once by the Admin: its callers need nothing of etcd to tell them apart.
func TestAdminErrorsMapped(t *testing.T) {
	urls, err := node.FreeLoopbackURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(t, urls)
	ctx := testContext(t, 10*time.Second)
	for what, call := range map[string]func(context.Context) error{
		"Status":     func(ctx context.Context) error { _, err := adm.Status(ctx); return err },
		"MemberList": func(ctx context.Context) error { _, err := adm.MemberList(ctx); return err },
		"Join": func(ctx context.Context) error {
			_, _, err := adm.Join(ctx, "m9", []string{"http://127.0.0.1:1"})
			return err
		},
		"Promote":      func(ctx context.Context) error { return adm.Promote(ctx, 1) },
		"RemoveMember": func(ctx context.Context) error { return adm.RemoveMember(ctx, "m9") },
		"CountMembers": func(ctx context.Context) error { _, err := adm.CountMembers(ctx); return err },
	} {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := call(cctx)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on an unreachable cluster = %v, want store.ErrUnavailable", what, err)
		}
	}
}
