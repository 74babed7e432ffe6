package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
)

// loggedInWith is loggedIn with options.
func loggedInWith(t *testing.T, d *driver, user string) *driver {
	t.Helper()
	d.waitText("New identity " + user)
	d.enter()
	d.waitFor("the room list", func() bool { return d.m.screen == screenRooms && d.m.rooms.loaded })
	return d
}

// With --share-typing and --share-read, the others see when I type and
// how far I have read; I see what they share, whatever I share.
func TestTypingAndReadMarkers(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedInWith(t, newDriver(t, newSession(st), Options{User: "alice", ShareTyping: true, ShareRead: true}), "alice")
	openRoom(t, d, "general")
	bob := joinedBy(t, d, "general")
	sig, err := bob.FollowSignals(testCtx(t), "general")
	if err != nil {
		t.Fatal(err)
	}
	bobSees := func(what string, ok func(chat.Signals) bool) {
		t.Helper()
		timeout := time.After(waitLimit)
		for {
			select {
			case sg := <-sig:
				if sg.Err == nil && ok(sg) {
					return
				}
			case msg := <-d.msgs:
				d.send(msg)
			case <-timeout:
				t.Fatalf("bob never saw %s", what)
			}
		}
	}
	d.typeText("hel")
	bobSees("alice typing", func(sg chat.Signals) bool { return slices.Equal(sg.Typing, []string{"alice"}) })
	d.typeText("lo")
	d.enter()
	d.waitText("» alice: hello")
	bobSees("alice stop typing", func(sg chat.Signals) bool { return len(sg.Typing) == 0 })

	if err := bob.Typing(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	d.waitText("── bob is typing… ")
	// The screen shows alice's message as she typed it; bob reads it once
	// it is stored.
	var hello chat.Message
	for deadline := time.Now().Add(waitLimit); ; {
		m, ok := findText(folded(t, bob, "general"), "hello")
		if ok {
			hello = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob never read alice's hello")
		}
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := bob.StopTyping(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	if err := bob.ShareRead(testCtx(t), "general", hello.Revision); err != nil {
		t.Fatal(err)
	}
	d.waitText("── seen by bob ")
	d.waitFor("no typing shown", func() bool { return !contains(d.screen(), "is typing") })

	// bob's message, shown to alice, is marked read for him to see.
	m := mustSend(t, bob, "general", "got it")
	bobSees("alice's read marker", func(sg chat.Signals) bool { return sg.Read["alice"] >= m.Revision })
}

// Without the options nothing is shared: no typing indicator is renewed
// and no read marker written.
func TestTypingNotSharedByDefault(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	d.typeText("hello")
	if !d.m.conv.typingAt.IsZero() {
		t.Fatal("typing shared without --share-typing")
	}
	if cmd := d.m.shareRead("general", 10); cmd != nil {
		t.Fatal("a read marker shared without --share-read")
	}
	list, _, err := st.Signals(testCtx(t), "general")
	if err != nil || len(list) != 0 {
		t.Fatalf("signals in etcd: %v, %v", list, err)
	}
}
