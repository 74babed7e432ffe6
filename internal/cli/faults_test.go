package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/internal/testkit"
)

// mustRun runs parley and fails the test unless it exits 0.
func mustRun(t *testing.T, ctx context.Context, env map[string]string, args ...string) {
	t.Helper()
	if code, stderr := run(t, ctx, env, nil, args...); code != 0 {
		t.Fatalf("parley %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
}

// withEnv returns env with the given pairs changed.
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// A command that runs out of time on a cluster that has a leader and
// answers, only slowly, says so and exits 5, not "unavailable, check the
// quorum" (3); a cluster that cannot be reached still exits 3.
func TestSlowClusterIsNotUnavailable(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "r")
	mustRun(t, ctx, env, "--user", "alice", "send", "r", "hello")

	proxy := testkit.NewProxy(t, eps[0])
	slow := withEnv(env, "PARLEY_ENDPOINTS", proxy.Endpoint())
	// Each reply takes longer than the whole timeout; the probe after the
	// failure has seconds.
	proxy.SetDelay(400 * time.Millisecond)
	code, stderr := run(t, ctx, slow, nil, "--timeout", "300ms", "--user", "alice", "read", "r")
	if code != cli.ExitSlow || !strings.Contains(stderr, "slow or overloaded") || !strings.Contains(stderr, "try a longer --timeout") {
		t.Fatalf("read on a slow cluster: exit %d, stderr:\n%s\nwant exit %d and a slow cluster's hint", code, stderr, cli.ExitSlow)
	}
	if strings.Contains(stderr, "unavailable") || strings.Contains(stderr, "quorum") {
		t.Fatalf("a slow cluster reported as unavailable:\n%s", stderr)
	}

	proxy.SetDown(true)
	code, stderr = run(t, ctx, slow, nil, "--timeout", "300ms", "--user", "alice", "read", "r")
	if code != cli.ExitUnavailable || !strings.Contains(stderr, "etcd cluster unavailable") || !strings.Contains(stderr, "quorum") {
		t.Fatalf("read on an unreachable cluster: exit %d, stderr:\n%s\nwant exit %d", code, stderr, cli.ExitUnavailable)
	}
}
