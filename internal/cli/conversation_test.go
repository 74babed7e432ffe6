package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// follower runs read --follow (with args) in the background and hands its
// lines out one at a time.
type follower struct {
	t     *testing.T
	lines chan string
	stop  context.CancelFunc
	done  chan int
	once  sync.Once
	code  int
}

func follow(t *testing.T, ctx context.Context, env map[string]string, args ...string) *follower {
	t.Helper()
	pr, pw := io.Pipe()
	fctx, stop := context.WithCancel(ctx)
	f := &follower{t: t, lines: make(chan string, 64), stop: stop, done: make(chan int, 1)}
	go func() {
		code, _ := run(t, fctx, env, pw, args...)
		pw.Close()
		f.done <- code
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
		close(f.lines)
	}()
	t.Cleanup(func() { f.end() })
	return f
}

// end interrupts the follower and returns its exit code.
func (f *follower) end() int {
	f.stop()
	f.once.Do(func() { f.code = <-f.done })
	return f.code
}

// next returns the next line that contains want, skipping others.
func (f *follower) next(want string) string {
	f.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-f.lines:
			if !ok {
				f.t.Fatalf("output ended before a line with %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			f.t.Fatalf("no line with %q", want)
		}
	}
}

// runOut runs parley and returns its stdout, failing the test on a
// non-zero exit.
func runOutput(t *testing.T, ctx context.Context, env map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if code, stderr := run(t, ctx, env, &out, args...); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return out.String()
}

func sentID(t *testing.T, out string) string {
	t.Helper()
	var m struct{ ID string }
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.ID == "" {
		t.Fatalf("no id in %q: %v", out, err)
	}
	return m.ID
}

// read --follow says what each live event does, against the message it
// names as it now stands; --follow --json marks mentions of me.
func TestReadFollowEvents(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	runOutput(t, ctx, env, "--user", "alice", "create", "live")
	runOutput(t, ctx, env, "--user", "bob", "join", "live")
	runOutput(t, ctx, env, "--user", "alice", "approve", "live", "bob")
	q := sentID(t, runOutput(t, ctx, env, "--user", "alice", "send", "live", "--json", "lunch?"))

	text := follow(t, ctx, env, "--user", "alice", "read", "live", "--follow")
	js := follow(t, ctx, env, "--user", "alice", "read", "live", "--follow", "--json")
	text.next("alice: lunch?")
	js.next(`"text":"lunch?"`)

	b := sentID(t, runOutput(t, ctx, env, "--user", "bob", "send", "live", "--json", "at noon, @alice"))
	if l := js.next(`"text":"at noon, @alice"`); !strings.Contains(l, `"mentions_me":true`) {
		t.Errorf("a mention of me is not marked: %s", l)
	}
	text.next("bob: at noon, @alice")
	runOutput(t, ctx, env, "--user", "bob", "edit", "live", b, "at one, @alice")
	text.next("bob: at one, @alice (edited)")
	if l := js.next(`"kind":"edit"`); !strings.Contains(l, `"edits":"`+b+`"`) || strings.Contains(l, "mentions_me") {
		t.Errorf("the edit as JSON: %s", l)
	}
	runOutput(t, ctx, env, "--user", "bob", "react", "live", q, "👍")
	text.next("* bob reacted 👍 to alice: lunch? [👍 1]")
	runOutput(t, ctx, env, "--user", "bob", "react", "live", q, "👍")
	text.next("* bob took back 👍 on alice: lunch?")
	runOutput(t, ctx, env, "--user", "bob", "send", "--reply-to", q, "live", "yes")
	if l := text.next("> alice: lunch?"); !strings.HasPrefix(l, "      ") {
		t.Errorf("the quote line %q is not indented", l)
	}
	text.next("bob: yes")
	if l := js.next(`"kind":"reply"`); !strings.Contains(l, `"mentions_me":true`) || !strings.Contains(l, `"quote":{"id":"`+q) {
		t.Errorf("a reply to my message as JSON: %s", l)
	}
	runOutput(t, ctx, env, "--user", "bob", "delete", "live", b)
	text.next("* bob deleted their message of ")
	runOutput(t, ctx, env, "--user", "bob", "topic", "live", "plans")
	text.next("* bob set the topic: plans")
	runOutput(t, ctx, env, "--user", "alice", "room", "set", "live", "--disappear", "1h")
	text.next("* alice made messages disappear 1h after they are sent")

	if code := text.end(); code != cli.ExitInterrupted {
		t.Fatalf("interrupted follow exited %d, want %d", code, cli.ExitInterrupted)
	}
}
