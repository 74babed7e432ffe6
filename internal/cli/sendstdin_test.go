package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, which tells when
// it holds a given text.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{} // signalled on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{ch: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer holds text, for at most d.
func (b *syncBuffer) waitFor(t *testing.T, text string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !strings.Contains(b.String(), text) {
		select {
		case <-b.ch:
		case <-deadline:
			t.Fatalf("no %q in:\n%s", text, b.String())
		}
	}
}

// runWith runs parley with the given stdin and stderr.
func runWith(ctx context.Context, env map[string]string, stdin io.Reader, stdout, stderr io.Writer, args ...string) int {
	if stdout == nil {
		stdout = io.Discard
	}
	return cli.Main(ctx, args, &cli.Env{
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Getenv: func(k string) string { return env[k] },
	})
}

// readTexts returns the texts of a room's messages, as alice reads them.
func readTexts(t *testing.T, ctx context.Context, env map[string]string, room string) []string {
	t.Helper()
	var out bytes.Buffer
	if code, stderr := run(t, ctx, env, &out, "--user", "alice", "read", room); code != 0 {
		t.Fatalf("read %s: exit %d: %s", room, code, stderr)
	}
	var texts []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if _, text, ok := strings.Cut(l, "  alice: "); ok {
			texts = append(texts, text)
		}
	}
	return texts
}

// One failed line does not end send -: it is reported, the lines after
// it are sent, and the exit status says that a line failed.
func TestSendStdinKeepsGoingAfterAFailedLine(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "logs")

	long := strings.Repeat("y", 17000)
	huge := strings.Repeat("z", 100000) // longer than any line buffer
	stdin := strings.NewReader("ok line\n" + long + "\nafter long\n" + huge + "\r\nafter huge\r\n\n")
	stderr := newSyncBuffer()
	code := runWith(ctx, env, stdin, nil, stderr, "--user", "alice", "send", "logs", "-")
	if code == 0 {
		t.Fatalf("send - with two failed lines exited 0; stderr:\n%s", stderr)
	}
	for _, want := range []string{"line 2 of stdin", "message too long: 17000 bytes", "line 4 of stdin", "100000 bytes", "2 of 5 lines"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got, want := readTexts(t, ctx, env, "logs"), []string{"ok line", "after long", "after huge"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("room holds %q, want %q", got, want)
	}
}

// endless is stdin that never ends: a line whenever one is read, until
// closed.
type endless struct {
	mu     sync.Mutex
	n      int
	closed chan struct{}
	buf    []byte
}

func (e *endless) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.closed:
		return 0, io.EOF
	default:
	}
	if len(e.buf) == 0 {
		e.n++
		e.buf = fmt.Appendf(nil, "line %d\n", e.n)
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func (e *endless) lines() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func outboxFiles(t *testing.T, home string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(home, "users", "alice", "outbox"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// An interrupted send - stops at once, even while the cluster is away and
// every line goes to the outbox: no line is queued after the interrupt.
func TestSendStdinStopsOnInterrupt(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	home := t.TempDir()
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": home}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "logs")

	offline := withEnv(env, "PARLEY_ENDPOINTS", "127.0.0.1:1")
	stdin := &endless{closed: make(chan struct{})}
	defer close(stdin.closed)
	stderr := newSyncBuffer()
	sctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	done := make(chan int, 1)
	go func() {
		done <- runWith(sctx, offline, stdin, nil, stderr, "--timeout", "1s", "--user", "alice", "send", "logs", "-")
	}()
	stderr.waitFor(t, "queued", 20*time.Second)
	interrupt()
	at := time.Now()
	queued, read := outboxFiles(t, home), stdin.lines()
	select {
	case code := <-done:
		t.Logf("send - returned %v after the interrupt; %d lines read, %d queued by then", time.Since(at), read, queued)
		if code != cli.ExitInterrupted {
			t.Fatalf("interrupted send - exited %d, want %d; stderr:\n%s", code, cli.ExitInterrupted, stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("send - still runs 5 s after the interrupt; %d lines read, %d queued so far", stdin.lines(), outboxFiles(t, home))
	}
	// A line being queued at the interrupt may finish; no other.
	if n := outboxFiles(t, home); n > queued+1 {
		t.Fatalf("%d messages queued after the interrupt (%d at it, %d lines read then, %d now)", n-queued, queued, read, stdin.lines())
	}
}

// A running send - delivers its own queue as soon as the cluster is back,
// in order, before the lines after it go out (it used to queue every line
// once one was queued, and deliver none).
func TestSendStdinDeliversItsOwnQueue(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	home := t.TempDir()
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": home}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "logs")
	mustRun(t, ctx, env, "--user", "alice", "send", "logs", "before")

	proxy := testkit.NewProxy(t, eps[0])
	proxy.SetDown(true)
	pr, pw := io.Pipe()
	defer pr.Close()
	stderr := newSyncBuffer()
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, withEnv(env, "PARLEY_ENDPOINTS", proxy.Endpoint()), pr, nil, stderr,
			"--timeout", "2s", "--user", "alice", "send", "logs", "-")
	}()
	fmt.Fprintln(pw, "down 1")
	stderr.waitFor(t, "queued", 20*time.Second)
	fmt.Fprintln(pw, "down 2")
	proxy.SetDown(false)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(stderr.String(), "delivered queued message") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue was not delivered 30 s after the cluster came back:\n%s", stderr)
		}
		select {
		case <-stderr.ch:
		case <-time.After(time.Second):
		}
	}
	fmt.Fprintln(pw, "up 1")
	pw.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("send - exited %d:\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("send - did not end with its stdin:\n%s", stderr)
	}
	if n := outboxFiles(t, home); n != 0 {
		t.Fatalf("%d messages left in the outbox:\n%s", n, stderr)
	}
	if got, want := readTexts(t, ctx, env, "logs"), []string{"before", "down 1", "down 2", "up 1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("room holds %q, want %q", got, want)
	}
}

// outbox --deliver on a slow cluster gives each message the timeout, not
// the whole outbox: a queue that takes longer than --timeout to deliver is
// delivered all the same.
func TestOutboxDeliverOnASlowCluster(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	home := t.TempDir()
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": home}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	mustRun(t, ctx, env, "--user", "alice", "create", "r")

	var want []string
	var lines strings.Builder
	for i := range 12 {
		want = append(want, fmt.Sprintf("queued %d", i))
		fmt.Fprintf(&lines, "queued %d\n", i)
	}
	stderr := newSyncBuffer()
	offline := withEnv(env, "PARLEY_ENDPOINTS", "127.0.0.1:1")
	if code := runWith(ctx, offline, strings.NewReader(lines.String()), nil, stderr, "--timeout", "1s", "--user", "alice", "send", "r", "-"); code != 0 {
		t.Fatalf("send - offline: exit %d:\n%s", code, stderr)
	}
	if n := outboxFiles(t, home); n != len(want) {
		t.Fatalf("%d messages queued, want %d:\n%s", n, len(want), stderr)
	}

	proxy := testkit.NewProxy(t, eps[0])
	proxy.SetDelay(200 * time.Millisecond)
	start := time.Now()
	code, errs := run(t, ctx, withEnv(env, "PARLEY_ENDPOINTS", proxy.Endpoint()), nil, "--timeout", "3s", "--user", "alice", "outbox", "--deliver")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("outbox --deliver on a slow cluster: exit %d after %v:\n%s", code, took, errs)
	}
	t.Logf("%d messages delivered through replies 200 ms late in %v", len(want), took)
	if n := strings.Count(errs, "delivered"); n != len(want) {
		t.Fatalf("%d deliveries reported, want %d:\n%s", n, len(want), errs)
	}
	if n := outboxFiles(t, home); n != 0 {
		t.Fatalf("%d messages left in the outbox", n)
	}
	if got := readTexts(t, ctx, env, "r"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("room holds %q, want %q", got, want)
	}
}
