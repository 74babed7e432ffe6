package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// BenchmarkRawPut and BenchmarkPutMessage compare a plain etcd Put with
// Parley's conditional message write, values of one size, same member.
func BenchmarkRawPut(b *testing.B) {
	st := open(b)
	v := make([]byte, 335)
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.BenchPut(context.Background(), "b", int(n.Add(1)), v); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPutMessage(b *testing.B) {
	st := open(b)
	v := make([]byte, 335)
	var n atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("%032x", n.Add(1))
			if _, err := st.PutMessage(context.Background(), "r", id, v, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRawPutSerial and BenchmarkPutMessageSerial are the same at
// concurrency 1, where each write waits for the one before: the difference
// is what the transaction adds to a send's latency.
func BenchmarkRawPutSerial(b *testing.B) {
	st := open(b)
	v := make([]byte, 335)
	n := 0
	for b.Loop() {
		n++
		if err := st.BenchPut(context.Background(), "b", n, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutMessageSerial(b *testing.B) {
	st := open(b)
	v := make([]byte, 335)
	n := 0
	for b.Loop() {
		n++
		if _, err := st.PutMessage(context.Background(), "r", fmt.Sprintf("%032x", n), v, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func open(b *testing.B) *store.Client {
	eps := storetest.StartEmbedded(b)
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}
