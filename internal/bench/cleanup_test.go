package bench_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// keys lists every key under Parley's prefix.
func keys(t *testing.T, eps []string) []string {
	t.Helper()
	raw, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := raw.Get(ctx, store.Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// onlyUsers are the keys left when nothing but the two users' records
// remain.
var onlyUsers = []string{store.Prefix + "users/reader", store.Prefix + "users/writer"}

// A run leaves no key behind but the users it was given: its rooms, their
// messages and its raw keys are gone.
func TestRunLeavesNothing(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := bench.Run(ctx, users(t, eps), bench.Config{
		Messages: 16, History: 40, Concurrency: []int{2}, Rounds: 1, Latency: 3,
	}); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, eps); !slices.Equal(got, onlyUsers) {
		t.Fatalf("after a run, etcd holds %q; want only %q", got, onlyUsers)
	}
}

// An interrupted run removes what it wrote too.
func TestRunInterruptedLeavesNothing(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	_, err := bench.Run(rctx, users(t, eps), bench.Config{
		Messages: 100000, History: 40, Concurrency: []int{2}, Rounds: 1, Latency: 3,
		Progress: func(format string, args ...any) {
			// Interrupted in the middle of the first round of sends.
			if strings.Contains(fmt.Sprintf(format, args...), "round 1 of") {
				interrupt()
			}
		},
	})
	if err == nil {
		t.Fatal("an interrupted run succeeded")
	}
	if got := keys(t, eps); !slices.Equal(got, onlyUsers) {
		t.Fatalf("after an interrupted run, etcd holds %q; want only %q", got, onlyUsers)
	}
}
