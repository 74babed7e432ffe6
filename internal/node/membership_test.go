package node_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// TestMembership grows a cluster from one member to three through
// learners, checks its status and shrinks it again.
func TestMembership(t *testing.T) {
	began := time.Now()
	first := startNode(t, testConfig(t, "m1"))
	cli := newClient(t, first.ClientURLs())
	adm := newAdmin(t, first.ClientURLs())
	ctx := testContext(t, 30*time.Second)
	mustPut(t, cli, "k", "v")

	nodes := map[string]*node.Node{"m1": first}
	for _, name := range []string{"m2", "m3"} {
		cfg := testConfig(t, name)
		// For m3 this waits until m2 has been connected for 5 s.
		id, initial, err := adm.AddLearner(ctx, name, cfg.ListenPeerURLs)
		if err != nil {
			t.Fatalf("AddLearner %s: %v", name, err)
		}
		if !strings.Contains(initial, name+"="+cfg.ListenPeerURLs[0]) || !strings.Contains(initial, "m1=") {
			t.Fatalf("AddLearner %s: initial cluster %q", name, initial)
		}
		cfg.InitialCluster = initial
		cfg.InitialClusterState = node.ClusterStateExisting
		n := startNode(t, cfg)
		if n.ID() != id {
			t.Fatalf("member %s started with ID %x, added as %x", name, n.ID(), id)
		}
		nodes[name] = n

		st, err := adm.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st {
			if m.IsLearner != (m.ID == id) {
				t.Errorf("after adding %s: member status %+v", name, m)
			}
		}
		if err := adm.Promote(ctx, id); err != nil {
			t.Fatalf("Promote %s: %v", name, err)
		}
		if err := adm.Promote(ctx, id); err != nil {
			t.Fatalf("second Promote %s: %v", name, err)
		}
	}
	t.Logf("three-member cluster formed in %v", time.Since(began))

	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 {
		t.Fatalf("Status lists %d members, want 3: %+v", len(st), st)
	}
	leaders := 0
	for _, m := range st {
		if !m.Reachable || m.Err != nil || m.IsLearner || m.RaftTerm == 0 || m.RaftIndex == 0 ||
			m.DBSize == 0 || m.Version == "" || m.Leader == 0 || nodes[m.Name] == nil ||
			nodes[m.Name].ID() != m.ID || len(m.ClientURLs) != 1 || len(m.PeerURLs) != 1 {
			t.Errorf("member status %+v", m)
		}
		if m.IsLeader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders", leaders)
	}

	// Every member has the data.
	for _, n := range nodes {
		mustGet(t, newClient(t, n.ClientURLs()), "k", "v")
	}

	if err := adm.RemoveMember(ctx, "nobody"); err == nil {
		t.Error("RemoveMember of an unknown name succeeded")
	}
	if err := adm.RemoveMember(ctx, "m3"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	select {
	case <-nodes["m3"].Done():
		if err := nodes["m3"].Err(); !errors.Is(err, node.ErrStopped) {
			t.Errorf("removed member's Err = %v, want ErrStopped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("removed member still runs")
	}
	st, err = adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 {
		t.Fatalf("Status after removal lists %d members: %+v", len(st), st)
	}
	mustPut(t, cli, "k", "w")
}

// A learner added but not started is listed as unreachable, and can be
// removed by its ID.
func TestStatusUnstartedMember(t *testing.T) {
	first := startNode(t, testConfig(t, "m1"))
	adm := newAdmin(t, first.ClientURLs())
	ctx := testContext(t, 30*time.Second)
	peer, err := node.FreeLoopbackURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := adm.AddLearner(ctx, "ghost", peer)
	if err != nil {
		t.Fatal(err)
	}
	// A second learner's initial cluster lists the first, nameless.
	peer2, err := node.FreeLoopbackURLs(1)
	if err != nil {
		t.Fatal(err)
	}
	_, initial, err := adm.AddLearner(ctx, "ghost2", peer2)
	if err == nil && !strings.Contains(initial, "="+peer[0]) {
		t.Errorf("initial cluster %q lacks the unstarted member %s", initial, peer[0])
	}
	// etcd may refuse more than one learner; that is fine here.

	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range st {
		if m.ID == id {
			found = true
			if m.Reachable || m.Err == nil || !m.IsLearner || m.Name != "" {
				t.Errorf("unstarted learner status %+v", m)
			}
			if err := adm.RemoveMember(ctx, m.String()); err != nil {
				t.Errorf("RemoveMember(%q): %v", m.String(), err)
			}
		}
	}
	if !found {
		t.Fatalf("learner %x missing from %+v", id, st)
	}
}
