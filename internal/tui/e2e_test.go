package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxTerm drives programs in real terminals: sessions of a tmux server
// of its own (its own socket), so it never touches the user's tmux.
type tmuxTerm struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("PARLEY_REQUIRE_TMUX") != "" {
			t.Fatal("tmux is required (PARLEY_REQUIRE_TMUX is set) but not installed")
		}
		t.Skip("tmux not installed (set PARLEY_REQUIRE_TMUX to fail instead)")
	}
	tm := &tmuxTerm{t: t, sock: fmt.Sprintf("parley-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmuxTerm) run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", tm.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

func (tm *tmuxTerm) must(args ...string) string {
	tm.t.Helper()
	out, err := tm.run(args...)
	if err != nil {
		tm.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return out
}

// start runs argv in a new 100x30 terminal named name, with env. When the
// program exits, the terminal says so with its exit status.
func (tm *tmuxTerm) start(name string, env []string, argv ...string) {
	tm.t.Helper()
	args := append(env, "sh", "-c", `"$0" "$@"; echo "[exited with status $?]"; sleep 600`)
	cmd := []string{"env"}
	for _, a := range append(args, argv...) {
		cmd = append(cmd, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	tm.must("new-session", "-d", "-s", name, "-x", "100", "-y", "30", strings.Join(cmd, " "))
}

// keys types text literally, then presses each of then (tmux key names).
func (tm *tmuxTerm) keys(name, text string, then ...string) {
	tm.t.Helper()
	if text != "" {
		tm.must("send-keys", "-t", name, "-l", text)
	}
	for _, k := range then {
		tm.must("send-keys", "-t", name, k)
	}
}

func (tm *tmuxTerm) screen(name string) string {
	out, err := tm.run("capture-pane", "-p", "-t", name)
	if err != nil {
		return "(no screen: " + err.Error() + ")"
	}
	return out
}

// waitFor polls the screen every 100ms until it shows every one of texts.
func (tm *tmuxTerm) waitFor(name string, texts ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := tm.screen(name)
		ok := true
		for _, x := range texts {
			ok = ok && strings.Contains(s, x)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s's terminal never showed %q; it shows:\n%s", name, texts, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exited waits until the program in name has exited, and checks that it
// exited with status 0 and left the terminal as it found it.
func (tm *tmuxTerm) exited(name string) {
	tm.t.Helper()
	s := tm.waitFor(name, "[exited with status ")
	if !strings.Contains(s, "[exited with status 0]") {
		tm.t.Fatalf("%s failed; the terminal shows:\n%s", name, s)
	}
	if strings.Contains(s, "Members") || strings.Contains(s, "online") {
		tm.t.Fatalf("%s left the chat on the terminal:\n%s", name, s)
	}
}

// buildParley builds the parley binary from the module the test is in.
func buildParley(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("cannot find the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command("go", "build", "-o", bin, "./cmd/parley")
	build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// capture saves a screen for the documentation when PARLEY_TUI_CAPTURES
// names a directory.
func capture(t *testing.T, file, screen string) {
	dir := os.Getenv("PARLEY_TUI_CAPTURES")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(screen), 0o644); err != nil {
		t.Error(err)
	}
}

// The original design's story, in two real terminals: alice creates a
// room, bob asks to join and waits, alice approves with !bob, bob reads
// the history, and they talk.
func TestEndToEndTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives two terminals")
	}
	tm := newTmux(t)
	bin := buildParley(t)
	eps := startEtcd(t)
	env := func() []string {
		return []string{"PARLEY_HOME=" + t.TempDir(), "PARLEY_ENDPOINTS=" + strings.Join(eps, ","), "TERM=xterm-256color", "LANG=C.UTF-8"}
	}
	tm.start("alice", env(), bin)
	tm.start("bob", env(), bin)

	capture(t, "login.txt", tm.waitFor("alice", "What is your username?"))
	tm.keys("alice", "alice", "Enter")
	capture(t, "login-new.txt", tm.waitFor("alice", "New identity alice"))
	tm.keys("alice", "", "Enter")
	capture(t, "rooms-none.txt", tm.waitFor("alice", "There are no rooms yet", "[0]   create a room", "connected to"))
	tm.keys("alice", "c")
	tm.waitFor("alice", "Name of the new room:")
	tm.keys("alice", "general", "Enter")
	tm.waitFor("alice", "This is the beginning of general.")
	tm.keys("alice", "Hello from alice! Welcome to general.", "Enter")
	tm.waitFor("alice", "» alice: Hello from alice! Welcome to general.")

	tm.keys("bob", "bob", "Enter")
	tm.waitFor("bob", "New identity bob")
	tm.keys("bob", "", "Enter")
	capture(t, "rooms.txt", tm.waitFor("bob", "There is 1 room:", "[0]   general", "ask to join"))
	tm.keys("bob", "0", "Enter")
	capture(t, "waiting.txt", tm.waitFor("bob", "Waiting for approval to join general", "alice (online)"))

	capture(t, "approval.txt", tm.waitFor("alice", "bob wants to join, type !bob to approve"))
	tm.keys("alice", "!bob", "Enter")
	tm.waitFor("alice", "bob joined (approved by alice)")

	tm.waitFor("bob", "alice: Hello from alice! Welcome to general.", "you joined (approved by alice)")
	tm.keys("bob", "Hi alice, bob here 👋 — 日本語もOK", "Enter")
	capture(t, "conversation-alice.txt", tm.waitFor("alice", "bob: Hi alice, bob here 👋 — 日本語もOK", "2/2 online"))
	tm.keys("alice", "Glad you made it, bob.", "Enter")
	capture(t, "conversation-bob.txt", tm.waitFor("bob", "alice: Glad you made it, bob.", "» bob: Hi alice"))

	tm.keys("alice", "/members", "Enter")
	capture(t, "members.txt", tm.waitFor("alice", "Members of general (2, 2 online):", "bob    online  approved by alice"))

	tm.keys("alice", "/quit", "Enter")
	tm.exited("alice")
	capture(t, "presence.txt", tm.waitFor("bob", "Members 1/2", "1/2 online"))
	tm.keys("bob", "", "C-c")
	tm.exited("bob")
}

// waitFlag polls a tmux format of name's window until it reads want.
func (tm *tmuxTerm) waitFlag(name, format, want string) {
	tm.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		out, err := tm.run("display-message", "-p", "-t", name, format)
		if err == nil && strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s's window: %s is %q, want %q; the screen shows:\n%s", name, format, strings.TrimSpace(out), want, tm.screen(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A mention rings the bell in the terminal of the user mentioned (tmux
// flags the window) and shows marked "@"; a plain message does not ring
// it, nor does the mention ring the sender's.
func TestMentionBellTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives two terminals")
	}
	tm := newTmux(t)
	bin := buildParley(t)
	eps := startEtcd(t)
	env := func() []string {
		return []string{"PARLEY_HOME=" + t.TempDir(), "PARLEY_ENDPOINTS=" + strings.Join(eps, ","), "TERM=xterm-256color", "LANG=C.UTF-8"}
	}
	tm.start("alice", env(), bin, "--user", "alice")
	tm.start("bob", env(), bin, "--user", "bob")
	for _, u := range []string{"alice", "bob"} {
		tm.waitFor(u, "New identity "+u)
		tm.keys(u, "", "Enter")
	}
	tm.waitFor("alice", "There are no rooms yet")
	tm.keys("alice", "c")
	tm.waitFor("alice", "Name of the new room:")
	tm.keys("alice", "general", "Enter")
	tm.waitFor("alice", "This is the beginning of general.")
	tm.waitFor("bob", "[0]   general")
	tm.keys("bob", "0", "Enter")
	tm.waitFor("alice", "bob wants to join")
	tm.keys("alice", "!bob", "Enter")
	tm.waitFor("bob", "you joined (approved by alice)")
	tm.waitFlag("bob", "#{window_bell_flag}", "0")

	tm.keys("alice", "nothing for you here", "Enter")
	tm.waitFor("bob", "alice: nothing for you here")
	// No bell for it (a late one would still show at the next check).
	if out, _ := tm.run("display-message", "-p", "-t", "bob", "#{window_bell_flag}"); strings.TrimSpace(out) != "0" {
		t.Fatalf("a plain message rang bob's bell (flag %q)", out)
	}
	tm.keys("alice", "are you there, @bob?", "Enter")
	tm.waitFor("bob", "@ alice: are you there, @bob?")
	tm.waitFlag("bob", "#{window_bell_flag}", "1")
	tm.waitFlag("alice", "#{window_bell_flag}", "0")

	tm.keys("alice", "/quit", "Enter")
	tm.exited("alice")
	tm.keys("bob", "/quit", "Enter")
	tm.exited("bob")
}
