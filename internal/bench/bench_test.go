package bench_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/bench"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

func login(t *testing.T, eps []string, name string) (*chat.Service, *store.Client) {
	t.Helper()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, _ := crypto.NewIdentity(name)
	s, err := chat.Login(t.Context(), st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// users logs in the writer and the reader of a run.
func users(t *testing.T, eps []string) bench.Users {
	t.Helper()
	var u bench.Users
	u.Sender, u.SenderStore = login(t, eps, "writer")
	u.Reader, u.ReaderStore = login(t, eps, "reader")
	return u
}

// TestRunSmall runs a small benchmark end to end and checks that every
// figure is measured and consistent.
func TestRunSmall(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := bench.Run(ctx, users(t, eps), bench.Config{
		Messages: 64, History: 300, Concurrency: []int{1, 4}, Rounds: 2, Latency: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].Concurrency != 1 || res.Runs[1].Concurrency != 4 {
		t.Fatalf("runs = %+v", res.Runs)
	}
	for _, r := range res.Runs {
		if r.PutPerS <= 0 || r.SendPerS <= 0 || math.Abs(r.Ratio-r.SendPerS/r.PutPerS) > 1e-9 || r.SendP99Ms < r.SendP50Ms {
			t.Fatalf("inconsistent run %+v", r)
		}
	}
	if res.Messages != 300 || res.Rejected != 0 || res.HistoryPerS <= 0 || res.LastPageMs <= 0 {
		t.Fatalf("history = %+v", res.HistoryResult)
	}
	if res.E2EP50Ms <= 0 || res.WatchP50Ms <= 0 || res.VerifyLimitPerS <= 0 {
		t.Fatalf("latencies %+v", res)
	}
	if want := crypto.EnvelopeOverhead + len("writer"); res.EnvelopeOverheadBytes != want {
		t.Fatalf("overhead %d, want %d", res.EnvelopeOverheadBytes, want)
	}
}
