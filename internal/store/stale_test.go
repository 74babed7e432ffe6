package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestReadWithoutQuorum takes the quorum away from a cluster of three
// and reads on: a message page comes from the surviving member's own
// copy, marked stale, instead of failing after the deadline; writes still
// fail. With the quorum back, pages are fresh again.
func TestReadWithoutQuorum(t *testing.T) {
	nodes := storetest.StartNodes(t, 3)
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.ClientURLs()...)
	}
	lost := false
	st, err := store.Open(store.Config{Endpoints: eps, QuorumLost: func() bool { return lost }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	id := "00000000000000000000000000000001"
	if _, err := st.PutMessage(ctx, "r", id, []byte("kept"), 1); err != nil {
		t.Fatal(err)
	}
	if p, err := st.Messages(ctx, "r", "", 10, 0); err != nil || p.Stale || len(p.Messages) != 1 {
		t.Fatalf("with a quorum: %+v, %v", p, err)
	}
	// Keep the first member; close the others.
	for _, n := range nodes[1:] {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	p, err := st.Messages(ctx, "r", "", 10, 0)
	if err != nil || !p.Stale || len(p.Messages) != 1 || string(p.Messages[0].Value) != "kept" {
		t.Fatalf("without a quorum: %+v, %v", p, err)
	}
	t.Logf("first read without a quorum: %v", time.Since(start).Round(time.Millisecond))
	if !st.NoQuorum() {
		t.Error("NoQuorum is false after a stale read")
	}
	cr, err := st.RoomChain(ctx, "r", 0, 1, 10)
	if err != nil || !cr.Stale {
		t.Fatalf("room chain without a quorum: %+v, %v", cr, err)
	}
	// The member's hint: the read goes to the copy at once.
	lost = true
	start = time.Now()
	if p, err := st.Messages(ctx, "r", "", 10, 0); err != nil || !p.Stale {
		t.Fatalf("hinted read: %+v, %v", p, err)
	}
	t.Logf("read with the member's hint: %v", time.Since(start).Round(time.Millisecond))
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	if _, err := st.PutMessage(wctx, "r", "00000000000000000000000000000002", []byte("lost"), 1); err == nil {
		t.Fatal("a write succeeded without a quorum")
	}
}
