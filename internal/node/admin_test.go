package node_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// TestAdmin goes through an Admin's view and changes of a real member's
// cluster, and its errors: this package's sentinels for what it refuses,
// store's for what etcd does.
func TestAdmin(t *testing.T) {
	first := startNode(t, testConfig(t, "m1"))
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: first.ClientURLs(), LogFile: t.TempDir() + "/client.log"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	if got := adm.Endpoints(); !slices.Equal(got, first.ClientURLs()) {
		t.Errorf("Endpoints = %v, want %v", got, first.ClientURLs())
	}

	ms, err := adm.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := node.Member{Name: "m1", ID: first.ID(), ClientURLs: first.ClientURLs(), PeerURLs: first.PeerURLs()}
	if len(ms) != 1 || ms[0].Name != want.Name || ms[0].ID != want.ID || ms[0].IsLearner ||
		!slices.Equal(ms[0].ClientURLs, want.ClientURLs) || !slices.Equal(ms[0].PeerURLs, want.PeerURLs) {
		t.Fatalf("MemberList = %+v, want [%+v]", ms, want)
	}
	st, err := adm.Status(ctx)
	if err != nil || len(st) != 1 || !st[0].Reachable || !st[0].IsLeader || st[0].Leader != first.ID() || st[0].Version == "" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if ok, err := adm.IsMember(ctx, first.ID()); err != nil || !ok {
		t.Errorf("IsMember(m1) = %v, %v", ok, err)
	}
	if ok, err := adm.IsMember(ctx, first.ID()+1); err != nil || ok {
		t.Errorf("IsMember(no member) = %v, %v", ok, err)
	}
	if learner, err := adm.IsLearner(ctx, first.ID()); err != nil || learner {
		t.Errorf("IsLearner(m1) = %v, %v", learner, err)
	}
	if _, err := adm.IsLearner(ctx, first.ID()+1); !errors.Is(err, node.ErrNoSuchMember) {
		t.Errorf("IsLearner(no member) = %v, want ErrNoSuchMember", err)
	}
	if _, err := adm.MemberID(ctx, "nobody"); !errors.Is(err, node.ErrNoSuchMember) {
		t.Errorf("MemberID(nobody) = %v, want ErrNoSuchMember", err)
	}
	if err := adm.RemoveMember(ctx, "nobody"); !errors.Is(err, node.ErrNoSuchMember) {
		t.Errorf("RemoveMember(nobody) = %v, want ErrNoSuchMember", err)
	}

	// A learner registered but never started: moved, refused company,
	// removed by its ID.
	urls, err := node.FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	id, initial, err := adm.Join(ctx, "m2", urls[:1])
	if err != nil {
		t.Fatal(err)
	}
	if m, err := adm.CountMembers(ctx); err != nil || m != (node.Membership{Voters: 1, Learners: 1}) {
		t.Errorf("CountMembers = %+v, %v", m, err)
	}
	if _, _, err := adm.Join(ctx, "m3", urls[1:]); !errors.Is(err, node.ErrTooManyLearners) {
		t.Errorf("a second learner: %v, want ErrTooManyLearners", err)
	}
	if err := adm.UpdatePeerURLs(ctx, id, urls[1:]); err != nil {
		t.Fatal(err)
	}
	ms, err = adm.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m node.Member) bool { return m.ID == id })
	if i < 0 || !ms[i].IsLearner || ms[i].Name != "" || !slices.Equal(ms[i].PeerURLs, urls[1:]) {
		t.Fatalf("after the update, members = %+v (joined with %q)", ms, initial)
	}
	if got, err := adm.MemberID(ctx, strconv.FormatUint(id, 16)); err != nil || got != id {
		t.Errorf("MemberID by hexadecimal ID = %x, %v; want %x", got, err, id)
	}
	if err := adm.RemoveMember(ctx, strconv.FormatUint(id, 16)); err != nil {
		t.Fatal(err)
	}
	if ok, err := adm.IsMember(ctx, id); err != nil || ok {
		t.Errorf("after removal: IsMember = %v, %v", ok, err)
	}

	// With the member gone, every call is store's ErrUnavailable.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = adm.Status(sctx)
	cancel()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Status of a stopped cluster = %v, want store.ErrUnavailable", err)
	}
	if err := adm.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
