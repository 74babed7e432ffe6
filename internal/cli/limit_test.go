package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// TestReadLimitSkipsFutureDated: a message from a member whose clock is a
// year ahead sorts first in key order; read --limit 2 still prints the two
// newest messages in the order every reader shows, instead of letting it
// take the place of one of them. Where it is itself among the newest it is
// shown, not counted, and reported on stderr; where it is older it is left
// out like any older message.
func TestReadLimitSkipsFutureDated(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := crypto.NewIdentity("mallory")
	if err != nil {
		t.Fatal(err)
	}
	ahead := func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
	mallory, err := chat.Login(ctx, st, id, chat.Options{Now: ahead})
	if err != nil {
		t.Fatal(err)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code, stderr := run(t, ctx, env, &out, append([]string{"--user", "alice"}, args...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out.String()
	}
	join := func(room string) {
		t.Helper()
		mustRun("create", room)
		if err := mallory.RequestJoin(ctx, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		mustRun("approve", room, "mallory")
	}
	send := func(room string, texts ...string) {
		t.Helper()
		for _, text := range texts {
			mustRun("send", room, text)
		}
	}
	future := func(room string) chat.Message {
		t.Helper()
		m, err := mallory.Send(ctx, names.Room(room), "from next year")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	read := func(room string) (lines []string, stderr string) {
		t.Helper()
		var out bytes.Buffer
		code, stderr := run(t, ctx, env, &out, "--user", "alice", "read", room, "--limit", "2")
		if code != 0 {
			t.Fatalf("read %s --limit 2: exit %d: %s", room, code, stderr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			_, text, _ := strings.Cut(l, "  ")
			lines = append(lines, text)
		}
		return lines, stderr
	}

	// The future-dated message is the newest by revision: shown, after the
	// two newest that count, and reported.
	join("late")
	send("late", "one", "two", "three")
	m := future("late")
	lines, stderr := read("late")
	if want := []string{"alice: two", "alice: three", "mallory: from next year"}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("read late --limit 2 printed %q, want %q", lines, want)
	}
	if want := "parley: warning: message " + m.ID + " from mallory is dated " + m.Time.UTC().Format("2006-01-02"); !strings.Contains(stderr, want) ||
		!strings.Contains(stderr, "ahead of this machine's clock") {
		t.Fatalf("stderr %q lacks the warning %q...", stderr, want)
	}

	// Sent before the others, it is older than the two newest: left out.
	join("early")
	future("early")
	send("early", "one", "two", "three")
	lines, _ = read("early")
	if want := []string{"alice: two", "alice: three"}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("read early --limit 2 printed %q, want %q", lines, want)
	}
}
