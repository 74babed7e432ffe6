package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestWatchRoomFromRevision checks that a room watch delivers messages from
// its start revision in order, once each, and reports compaction.
func TestWatchRoomFromRevision(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ids := []string{
		"00000000000000000000000000000003",
		"00000000000000000000000000000002",
		"00000000000000000000000000000001",
	}
	var revs []int64
	for _, id := range ids {
		rev, err := st.PutMessage(ctx, "r", id, []byte("env-"+id), 1)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	// A retried write of the same bytes is the same message.
	if rev, err := st.PutMessage(ctx, "r", ids[0], []byte("env-"+ids[0]), 1); err != nil || rev != revs[0] {
		t.Fatalf("retried PutMessage = %d, %v; want %d, nil", rev, err, revs[0])
	}
	wctx, wcancel := context.WithCancel(ctx)
	ch, err := st.WatchRoom(wctx, "r", revs[1])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-ch:
			for _, m := range ev.Messages {
				got = append(got, m.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch delivered %v", got)
		}
	}
	if got[0] != ids[1] || got[1] != ids[2] {
		t.Fatalf("watch from revision %d delivered %v", revs[1], got)
	}
	wcancel()
	for range ch {
	}

	raw, err := clientv3.New(clientv3.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Compact(ctx, revs[2]); err != nil {
		t.Fatal(err)
	}
	ch, err = st.WatchRoom(ctx, "r", revs[0])
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-ch:
		if !ok || !ev.Compacted {
			t.Fatalf("watch from a compacted revision: %+v, open=%v", ev, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no compaction event")
	}
	if _, ok := <-ch; ok {
		t.Fatal("watch channel still open after compaction")
	}
}

// TestUnavailable checks that an unreachable cluster is reported as
// ErrUnavailable within the caller's deadline.
func TestUnavailable(t *testing.T) {
	st, err := store.Open(store.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.RoomChain(ctx, "r", 0, 1, 0)
	if !errorsIs(err, store.ErrUnavailable) {
		t.Fatalf("RoomChain on a dead endpoint = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
