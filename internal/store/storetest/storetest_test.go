package storetest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/parley-chat/parley/internal/store/storetest"
)

func client(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestStartEmbedded(t *testing.T) {
	began := time.Now()
	eps := storetest.StartEmbedded(t)
	t.Logf("single member started in %v", time.Since(began))
	if len(eps) != 1 {
		t.Fatalf("endpoints %v", eps)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cli := client(t, eps)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v, %v", resp, err)
	}
}

func TestStartCluster(t *testing.T) {
	began := time.Now()
	eps := storetest.StartCluster(t, 3)
	t.Logf("three members started in %v", time.Since(began))
	if len(eps) != 3 {
		t.Fatalf("endpoints %v", eps)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := client(t, eps[:1]).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := client(t, eps[2:]).Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get from another member: %v, %v", resp, err)
	}
}
