package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/node"
)

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNode runs `parley node` in this process: it takes its settings from
// flags and, for the others, from ETCD_* variables, serves `parley cluster
// status`, and stops cleanly, exit 0, when its context ends as on SIGINT.
func TestNode(t *testing.T) {
	urls, err := node.FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{
		"ETCD_NAME":               "from-env", // the flag wins
		"ETCD_DATA_DIR":           filepath.Join(dir, "data"),
		"ETCD_LISTEN_CLIENT_URLS": urls[0],
		"ETCD_LISTEN_PEER_URLS":   urls[1],
		"ETCD_UNSAFE_NO_FSYNC":    "true",
		"ETCD_ELECTION_TIMEOUT":   "100",
		"ETCD_HEARTBEAT_INTERVAL": "10",
		"ETCD_ENDPOINTS":          "ignored: not an etcd server flag",
	}
	var stderr lockedBuffer
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"node", "--name", "n1"}, &cli.Env{
			Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return env[k] },
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "node n1: started as a voting member") {
		if time.Now().After(deadline) {
			t.Fatalf("no start: %s", stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("node exited %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(stderr.String(), "etcd log in "+filepath.Join(dir, "data", "etcd.log")) {
		t.Errorf("etcd's log is not in the data directory: %s", stderr.String())
	}

	var out bytes.Buffer
	cenv := map[string]string{"PARLEY_ENDPOINTS": urls[0], "PARLEY_HOME": t.TempDir()}
	code, errOut := run(t, t.Context(), cenv, &out, "cluster", "status", "--json")
	if code != 0 {
		t.Fatalf("cluster status: exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("cluster status --json: %v: %s", err, out.String())
	}
	if m["name"] != "n1" || m["role"] != "leader" || m["reachable"] != true || m["peer_urls"].([]any)[0] != urls[1] {
		t.Errorf("cluster status: %v", m)
	}

	stop()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Errorf("interrupted node exited %d, want 0: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node did not stop")
	}
	if s := stderr.String(); !strings.Contains(s, "node n1: stopping") || !strings.Contains(s, "node n1: stopped") {
		t.Errorf("stderr: %s", s)
	}
}

// Cluster commands need the cluster's endpoints.
func TestClusterNeedsEndpoints(t *testing.T) {
	code, stderr := run(t, t.Context(), map[string]string{"PARLEY_HOME": t.TempDir()}, nil, "cluster", "status")
	if code != cli.ExitUsage || !strings.Contains(stderr, "--endpoints") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	code, stderr = run(t, t.Context(), map[string]string{"PARLEY_ENDPOINTS": "127.0.0.1:1", "PARLEY_HOME": t.TempDir()}, nil, "--timeout", "1s", "cluster", "status")
	if code != cli.ExitUnavailable {
		t.Errorf("status of an unreachable cluster: exit %d, want %d: %s", code, cli.ExitUnavailable, stderr)
	}
}
