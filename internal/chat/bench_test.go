package chat_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// BenchmarkSend measures one send (seal, sign, conditional write) on an
// embedded member, at the benchmark's parallelism (-cpu, -benchtime).
func BenchmarkSend(b *testing.B) {
	s := sendBench(b)
	text := strings.Repeat("x", 200)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(context.Background(), "r", text); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSendSerial is one send after another (concurrency 1): compare
// with BenchmarkRawPutSerial in internal/store.
func BenchmarkSendSerial(b *testing.B) {
	s := sendBench(b)
	text := strings.Repeat("x", 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(context.Background(), "r", text); err != nil {
			b.Fatal(err)
		}
	}
}

func sendBench(b *testing.B) *chat.Service {
	e := &env{eps: storetest.StartEmbedded(b)}
	st, err := store.Open(store.Config{Endpoints: e.eps})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	id, err := crypto.NewIdentity("alice")
	if err != nil {
		b.Fatal(err)
	}
	s, err := chat.Login(context.Background(), st, id, chat.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateRoom(context.Background(), "r"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkHistory measures reading, verifying and decrypting a room's
// whole history of 10,000 messages in a fresh client.
func BenchmarkHistory(b *testing.B) {
	eps := storetest.StartEmbedded(b)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	id, _ := crypto.NewIdentity("alice")
	s, err := chat.Login(ctx, st, id, chat.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.CreateRoom(ctx, "r")
	const n = 10000
	text := strings.Repeat("x", 200)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := s.Send(ctx, "r", text); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		fresh, err := chat.Login(ctx, st, id, chat.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := fresh.History(ctx, "r", 0)
		if err != nil || len(p.Messages) != n {
			b.Fatalf("read %d messages, %v", len(p.Messages), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
