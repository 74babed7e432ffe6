// Package storetest starts real etcd members for tests: a single member
// or a small cluster inside the test process, on 127.0.0.1 only, with data
// and logs in the test's temporary directory, stopped when the test ends.
//
// The members skip fsync and use short raft ticks, so they start in a
// fraction of a second; they are not meant to survive a crash.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

const (
	// startTimeout bounds the start of a member or cluster.
	startTimeout = 30 * time.Second
	// attempts is how many times a start is tried when a port picked as
	// free was taken before etcd could bind it.
	attempts  = 5
	heartbeat = 10 * time.Millisecond
	election  = 100 * time.Millisecond
)

// StartEmbedded starts a single-member etcd cluster and returns its client
// endpoints. The member is closed, and waited for, when the test ends.
func StartEmbedded(t testing.TB) (endpoints []string) {
	t.Helper()
	return StartCluster(t, 1)
}

// StartCluster starts an etcd cluster of n members in the test process and
// returns the client endpoints of all of them. Each member has its own
// ports, data directory and log file. The members are closed, and waited
// for, when the test ends.
func StartCluster(t testing.TB, n int) (endpoints []string) {
	t.Helper()
	if n < 1 {
		t.Fatalf("storetest: cluster of %d members", n)
	}
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
			for _, nd := range nodes {
				endpoints = append(endpoints, nd.ClientURLs()...)
			}
			return endpoints
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("storetest: start etcd: %v (logs in %s)", lastErr, dir)
	return nil
}

// startCluster starts n members with data and logs under dir. On failure
// it closes the members it started.
func startCluster(ctx context.Context, dir string, n int) ([]*node.Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	urls, err := node.FreeLoopbackURLs(2 * n)
	if err != nil {
		return nil, err
	}
	cfgs := make([]node.Config, n)
	pairs := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		cfgs[i] = node.Config{
			Name:                name,
			DataDir:             filepath.Join(dir, name),
			ListenClientURLs:    []string{urls[2*i]},
			ListenPeerURLs:      []string{urls[2*i+1]},
			InitialClusterToken: "storetest",
			LogFile:             filepath.Join(dir, name+".log"),
			HeartbeatInterval:   heartbeat,
			ElectionTimeout:     election,
			UnsafeNoFsync:       true,
		}
		pairs[i] = name + "=" + urls[2*i+1]
	}

	// A member of a new cluster is ready only once a quorum has started,
	// so the members start together, and the failure of one stops the
	// others from waiting for it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodes := make([]*node.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(pairs, ",")
		wg.Go(func() {
			nodes[i], errs[i] = node.Start(ctx, cfgs[i], nil)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(nodes)
		return nil, err
	}
	return nodes, nil
}

// closeAll closes the non-nil nodes and waits for them: the followers
// together, then the leader. A leader closed along with its followers
// would spend etcd's request timeout trying to hand its leadership to one
// of them.
func closeAll(nodes []*node.Node) error {
	var followers, leaders []*node.Node
	for _, nd := range nodes {
		switch {
		case nd == nil:
		case nd.IsLeader():
			leaders = append(leaders, nd)
		default:
			followers = append(followers, nd)
		}
	}
	var errs []error
	for _, group := range [][]*node.Node{followers, leaders} {
		groupErrs := make([]error, len(group))
		var wg sync.WaitGroup
		for i, nd := range group {
			wg.Go(func() { groupErrs[i] = nd.Close() })
		}
		wg.Wait()
		errs = append(errs, groupErrs...)
	}
	return errors.Join(errs...)
}
