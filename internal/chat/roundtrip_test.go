package chat_test

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
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
