package chat_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestRoundTrips counts the etcd requests of the operations whose cost
// docs/schema.md states, so the numbers there cannot drift.
func TestRoundTrips(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	c := ctx(t)
	type client struct {
		s     *chat.Service
		calls *atomic.Int64
	}
	login := func(name string) client {
		var n atomic.Int64
		st, err := store.Open(store.Config{Endpoints: eps, DialOptions: []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				n.Add(1)
				return invoker(ctx, method, req, reply, cc, opts...)
			}),
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		id, _ := crypto.NewIdentity(name)
		s, err := chat.Login(c, st, id, chat.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return client{s, &n}
	}
	count := func(cl client, what string, want int64, fn func() error) {
		t.Helper()
		before := cl.calls.Load()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := cl.calls.Load() - before; got != want {
			t.Errorf("%s took %d round trips, want %d", what, got, want)
		}
	}
	alice, bob := login("alice"), login("bob")
	if _, err := alice.s.CreateRoom(c, "r"); err != nil {
		t.Fatal(err)
	}
	send := func() error { _, err := alice.s.Send(c, "r", "hello"); return err }
	// The first send of a process also unwraps my key and, with no chain
	// head in the home (none here), finds where my chain left off.
	count(alice, "first send", 3, send)
	count(alice, "send", 1, send)
	count(alice, "send", 1, send)
	// A newcomer: room state + users, my devices (the key is wrapped to
	// each), then the create-only request.
	count(bob, "join request", 4, func() error { return bob.s.RequestJoin(c, "r") })
	// Approve: room state + users, the transaction, then a refresh.
	count(alice, "approval", 4, func() error { return alice.s.Approve(c, "r", "bob") })
}

// TestSummariesBatched: the summaries of a room list come many rooms to a
// round trip, and say what Summary says of each room.
func TestSummariesBatched(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	c := ctx(t)
	var n atomic.Int64
	st, err := store.Open(store.Config{Endpoints: eps, DialOptions: []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			n.Add(1)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, _ := crypto.NewIdentity("alice")
	alice, err := chat.Login(c, st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob := newEnv(t, eps).login("bob")
	const rooms = 130
	var list []names.Room
	marks := map[names.Room]int64{}
	for i := range rooms {
		r := names.Room(fmt.Sprintf("room-%03d", i))
		list = append(list, r)
		if _, err := alice.CreateRoom(c, r); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			continue // no messages
		}
		m := mustSend(t, alice, string(r), "first in "+string(r))
		if i%3 == 2 {
			// bob writes after alice's mark: one unread for her.
			marks[r] = m.Revision
			if err := bob.RequestJoin(c, r); err != nil {
				t.Fatal(err)
			}
			if err := alice.Approve(c, r, "bob"); err != nil {
				t.Fatal(err)
			}
			mustSend(t, bob, string(r), "bob in "+string(r))
		}
	}
	seen := func(r names.Room) int64 { return marks[r] }
	// The room views are in memory already: only the messages are read.
	before := n.Load()
	sums, failed, err := alice.Summaries(c, list, seen, nil)
	if err != nil || len(failed) != 0 {
		t.Fatalf("Summaries = %v, %v", failed, err)
	}
	got := n.Load() - before
	t.Logf("summaries of %d rooms: %d round trips", rooms, got)
	if got > 3 {
		t.Errorf("summaries of %d rooms took %d round trips, want at most 3", rooms, got)
	}
	for _, r := range list {
		one, err := alice.Summary(c, r, seen(r))
		if err != nil {
			t.Fatal(err)
		}
		if got := sums[string(r)]; got.Unread != one.Unread || got.Last.ID != one.Last.ID || got.Last.Text != one.Last.Text {
			t.Errorf("%s: Summaries says %+v, Summary %+v", r, got, one)
		}
	}
	if s := sums["room-002"]; s.Unread != 1 || s.Last.Text != "bob in room-002" {
		t.Errorf("room-002: %+v, want bob's message unread", s)
	}
	if s := sums["room-000"]; s.Last.ID != "" {
		t.Errorf("room-000 has no messages, summary %+v", s)
	}
}
