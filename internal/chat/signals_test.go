package chat_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// Typing indicators and read markers of the other members come and go;
// those of non-members are not reported, and none is part of the log.
func TestSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	alice, bob, carol := e.process(e.person("alice")), e.process(e.person("bob")), e.process(e.person("carol"))
	groupOf(t, "r", alice, bob)
	m := mustSend(t, alice, "r", "hello")
	ch, err := alice.FollowSignals(c, "r")
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string, ok func(chat.Signals) bool) chat.Signals {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case sg := <-ch:
				if sg.Err == nil && ok(sg) {
					return sg
				}
			case <-timeout:
				t.Fatalf("no snapshot with %s", what)
			}
		}
	}
	next("nothing", func(sg chat.Signals) bool { return len(sg.Typing) == 0 && len(sg.Read) == 0 })
	if err := bob.Typing(c, "r"); err != nil {
		t.Fatal(err)
	}
	next("bob typing", func(sg chat.Signals) bool { return slices.Equal(sg.Typing, []string{"bob"}) })
	// carol is no member: her signal, written straight to etcd, is not shown.
	if err := e.st.PutSignal(c, "r", store.SignalTyping, "carol", "1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := alice.Typing(c, "r"); err != nil { // my own is not shown either
		t.Fatal(err)
	}
	if err := bob.StopTyping(c, "r"); err != nil {
		t.Fatal(err)
	}
	next("bob stopped", func(sg chat.Signals) bool { return len(sg.Typing) == 0 })
	if err := bob.ShareRead(c, "r", m.Revision); err != nil {
		t.Fatal(err)
	}
	next("bob's read marker", func(sg chat.Signals) bool { return sg.Read["bob"] == m.Revision && len(sg.Typing) == 0 })
	if err := carol.Typing(c, "r"); !errors.Is(err, chat.ErrNotMember) {
		t.Errorf("a non-member's Typing = %v, want ErrNotMember", err)
	}
	p, err := bob.History(c, "r", 0)
	if err != nil || len(p.Messages) != 1 || len(p.Warnings) != 0 {
		t.Fatalf("the log after signals: %d messages, %q, %v", len(p.Messages), p.Warnings, err)
	}
	// A typing indicator expires by itself.
	if err := bob.Typing(c, "r"); err != nil {
		t.Fatal(err)
	}
	next("bob typing again", func(sg chat.Signals) bool { return slices.Equal(sg.Typing, []string{"bob"}) })
	next("bob's indicator expired", func(sg chat.Signals) bool { return len(sg.Typing) == 0 })
}
