package storetest

import (
	"context"
	"testing"
	"time"
)

func TestExpCluster(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	nodes, err := startCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start %v", time.Since(t0))
	t0 = time.Now()
	for _, n := range nodes {
		t1 := time.Now()
		n.Close()
		t.Logf("close %s %v", n.Name(), time.Since(t1))
	}
	t.Logf("close all %v", time.Since(t0))
}
