package storetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/parley-chat/parley/internal/node"
)

// StartNodes is StartCluster for tests that stop members themselves (to
// take the cluster's quorum away): it returns the members. Those still
// running when the test ends are closed then; closing one twice is fine.
func StartNodes(t testing.TB, n int) []*node.Node {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		nodes, err := startCluster(ctx, filepath.Join(dir, fmt.Sprintf("try%d", attempt)), n)
		if err == nil {
			t.Cleanup(func() {
				if err := closeAll(nodes); err != nil {
					t.Errorf("storetest: close etcd: %v", err)
				}
			})
			return nodes
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("storetest: start etcd: %v (logs in %s)", lastErr, dir)
	return nil
}
