package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// Purge deletes exactly the named rooms' and users' keys: a room or user
// whose name begins with the same letters keeps its own.
func TestPurge(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	raw, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p := store.Prefix
	for _, k := range []string{
		p + "rooms/a", p + "room/a/s/version", p + "room/a/m/x",
		p + "rooms/ab", p + "room/ab/s/version", p + "room/ab/m/y",
		p + "users/u", p + "presence/u", p + "users/uv",
	} {
		if _, err := raw.Put(ctx, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Purge(ctx, []names.Room{"a"}, []names.User{"u"}); err != nil {
		t.Fatal(err)
	}
	// Purge takes typed names: "no/such" never becomes one.
	if _, err := names.ParseRoom("no/such"); err == nil {
		t.Fatal("a name that is no room name parsed")
	}
	resp, err := raw.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range resp.Kvs {
		got = append(got, string(kv.Key))
	}
	want := []string{p + "room/ab/m/y", p + "room/ab/s/version", p + "rooms/ab", p + "users/uv"}
	if !slices.Equal(got, want) {
		t.Fatalf("after Purge(a, u): %q, want %q", got, want)
	}
}
