package node_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/parley-chat/parley/internal/node"
)

func TestMain(m *testing.M) {
	// As a terminal program's main does.
	node.SilenceGRPCLogs()
	if home := os.Getenv(helperHomeEnv); home != "" {
		os.Exit(runLocalHelper(home))
	}
	code := m.Run()
	if code == 0 {
		if err := findLeaks(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks reports goroutines still running after all tests, waiting up
// to d for them to end: a closed etcd member's peer connections take up
// to its 5 s read timeout to close, after Close has returned.
func findLeaks(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// testConfig returns the configuration of a fast single-member cluster on
// free loopback ports, with its data and log in a temporary directory.
func testConfig(t *testing.T, name string) node.Config {
	t.Helper()
	urls, err := node.FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return node.Config{
		Name:              name,
		DataDir:           dir + "/data",
		ListenClientURLs:  urls[:1],
		ListenPeerURLs:    urls[1:],
		LogFile:           dir + "/etcd.log",
		HeartbeatInterval: 10 * time.Millisecond,
		ElectionTimeout:   100 * time.Millisecond,
		UnsafeNoFsync:     true,
	}
}

// startNode starts cfg and closes the member when the test ends.
func startNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// newClient returns a quiet etcd client closed when the test ends.
func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// newAdmin returns an Admin of the cluster at endpoints, closed when the
// test ends.
func newAdmin(t *testing.T, endpoints []string) *node.Admin {
	t.Helper()
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: endpoints})
	if err != nil {
		t.Fatalf("OpenAdmin: %v", err)
	}
	t.Cleanup(func() {
		if err := adm.Close(); err != nil {
			t.Errorf("Admin.Close: %v", err)
		}
	})
	return adm
}

// testContext returns a context that ends with the test or after d.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	if _, err := cli.Put(testContext(t, 10*time.Second), key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	resp, err := cli.Get(testContext(t, 10*time.Second), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, want)
	}
}
