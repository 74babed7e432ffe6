package store_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// Signals live under their own prefix, bound to leases: a room's watch
// never sees them, a bad name or kind never becomes a key, and a value
// written raw that is no signal is skipped.
func TestSignals(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Room and user are typed names, canonical by construction; the kind
	// is checked.
	if err := st.PutSignal(ctx, "r", "mood", "bob", "1", time.Second); err == nil {
		t.Errorf("PutSignal(mood) accepted")
	}
	_, rev, err := st.Signals(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	room, err := st.WatchRoom(ctx, "r", rev+1)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchSignals(ctx, "r", rev+1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Put(ctx, store.Prefix+"signal/r/typing/not a name", "1"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSignal(ctx, "r", store.SignalTyping, "bob", "42", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSignal(ctx, "r", store.SignalTyping, "bob"); err != nil {
		t.Fatal(err)
	}
	var got []store.Signal
	for len(got) < 2 {
		select {
		case ev := <-ch:
			got = append(got, ev.Changes...)
		case ev := <-room:
			if len(ev.Messages) > 0 || len(ev.Deleted) > 0 || ev.StateChanged {
				t.Fatalf("the room's watch saw a signal: %+v", ev)
			}
		case <-ctx.Done():
			t.Fatalf("signals seen: %+v", got)
		}
	}
	want := []store.Signal{{Kind: "typing", User: "bob", Value: "42"}, {Kind: "typing", User: "bob", Gone: true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("signals = %+v, want %+v", got, want)
	}
	list, _, err := st.Signals(ctx, "r")
	if err != nil || len(list) != 0 {
		t.Fatalf("Signals after delete = %+v, %v", list, err)
	}
}
