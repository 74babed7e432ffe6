package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// benchKeys lists the keys under Parley's prefix that mention the bench.
func benchKeys(t *testing.T, eps []string) []string {
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
		if k := string(kv.Key); strings.Contains(k, "bench") || strings.Contains(k, "history-") {
			out = append(out, k)
		}
	}
	return out
}

// parley bench on a cluster of one's own leaves nothing of it behind, also
// when interrupted: no room, message, user or raw key of the run.
func TestBenchLeavesNothing(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "general")

	args := []string{"bench", "--messages", "16", "--history", "0", "--concurrency", "1"}
	stderr := newSyncBuffer()
	if code := runWith(ctx, env, strings.NewReader(""), nil, stderr, args...); code != 0 {
		t.Fatalf("bench: exit %d:\n%s", code, stderr)
	}
	if left := benchKeys(t, eps); len(left) > 0 {
		t.Fatalf("after bench, etcd holds %d of its keys: %q\n%s", len(left), left[:min(len(left), 5)], stderr)
	}

	bctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	stderr = newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- runWith(bctx, env, strings.NewReader(""), nil, stderr, "bench", "--messages", "100000", "--history", "0", "--concurrency", "1")
	}()
	stderr.waitFor(t, "round 1 of", 30*time.Second)
	interrupt()
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("interrupted bench exited 0:\n%s", stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("interrupted bench still runs:\n%s", stderr)
	}
	if left := benchKeys(t, eps); len(left) > 0 {
		t.Fatalf("after an interrupted bench, etcd holds %d of its keys: %q\n%s", len(left), left[:min(len(left), 5)], stderr)
	}
	// The user's own room is untouched.
	if out := readTexts(t, ctx, env, "general"); len(out) != 0 {
		t.Fatalf("general holds %q", out)
	}
}
