package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store/storetest"
)

func run(t *testing.T, ctx context.Context, env map[string]string, stdout io.Writer, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	if stdout == nil {
		stdout = io.Discard
	}
	code := cli.Main(ctx, args, &cli.Env{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	})
	return code, stderr.String()
}

// TestReadFollow checks that read --follow prints the history, then join
// notices and new messages as they arrive, and exits on interrupt.
func TestReadFollow(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"--user", "alice", "create", "live"},
		{"--user", "alice", "send", "live", "first"},
	} {
		if code, stderr := run(t, ctx, env, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}

	pr, pw := io.Pipe()
	fctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _ := run(t, fctx, env, pw, "--user", "alice", "read", "live", "--follow", "--json")
		pw.Close()
		done <- code
	}()
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	expect := func(key, want string) {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %s=%q", key, want)
				}
				if m[key] == want {
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no line with %s=%q", key, want)
			}
		}
	}
	expect("text", "first")
	if code, stderr := run(t, ctx, env, nil, "--user", "bob", "join", "live"); code != 0 {
		t.Fatalf("join: %d %s", code, stderr)
	}
	expect("text", "bob asks to join live (parley approve live bob)")
	if code, stderr := run(t, ctx, env, nil, "--user", "alice", "approve", "live", "bob"); code != 0 {
		t.Fatalf("approve: %d %s", code, stderr)
	}
	if code, stderr := run(t, ctx, env, nil, "--user", "bob", "send", "live", "second"); code != 0 {
		t.Fatalf("send: %d %s", code, stderr)
	}
	expect("text", "second")
	stop()
	select {
	case code := <-done:
		if code != cli.ExitInterrupted {
			t.Fatalf("interrupted follow exited %d, want %d", code, cli.ExitInterrupted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read --follow did not stop on interrupt")
	}
}

// Regression: read --follow printed a message's escape sequences raw, so
// any sender could clear the reader's screen or retitle the window. The
// live output shows them visibly, like the history.
func TestReadFollowEscapesRegression(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const evil = "X \x1b[2J\x1b]0;pwned\a \u009b31m \u202eevil"
	for _, args := range [][]string{
		{"--user", "alice", "create", "live"},
		{"--user", "alice", "send", "live", "history " + evil},
	} {
		if code, stderr := run(t, ctx, env, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}

	pr, pw := io.Pipe()
	fctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _ := run(t, fctx, env, pw, "--user", "alice", "read", "live", "--follow")
		pw.Close()
		done <- code
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	const want = `X ^[[2J^[]0;pwned^G <U+009B>31m <U+202E>evil`
	expect := func(prefix string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before the %s message", prefix)
			}
			if !strings.HasSuffix(l, "alice: "+prefix+" "+want) {
				t.Fatalf("read --follow printed %q, want the %s message ending in %q", l, prefix, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s message", prefix)
		}
	}
	expect("history")
	if code, stderr := run(t, ctx, env, nil, "--user", "alice", "send", "live", "live "+evil); code != 0 {
		t.Fatalf("send: %d %s", code, stderr)
	}
	expect("live")
	stop()
	if code := <-done; code != cli.ExitInterrupted {
		t.Fatalf("interrupted follow exited %d, want %d", code, cli.ExitInterrupted)
	}
}
