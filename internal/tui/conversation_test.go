package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/testkit"
)

// openRoom creates room as the driver's user and opens it from the list.
func openRoom(t *testing.T, d *driver, room string) {
	t.Helper()
	if _, err := d.m.sh.svc.CreateRoom(testCtx(t), names.Room(room)); err != nil && !errors.Is(err, chat.ErrRoomExists) {
		t.Fatal(err)
	}
	showRoom(t, d, room)
}

// showRoom opens a room from the list by typing its number.
func showRoom(t *testing.T, d *driver, room string) {
	t.Helper()
	if d.m.screen != screenRooms {
		d.send(showRoomsMsg{})
	}
	d.waitFor("room "+room+" in the list", func() bool {
		for _, r := range d.m.rooms.rooms {
			if r.Name == room {
				return true
			}
		}
		return false
	})
	for i, r := range d.m.rooms.rooms {
		if r.Name == room {
			d.typeText(fmt.Sprint(i))
		}
	}
	d.enter()
	d.waitFor("the conversation in "+room, func() bool {
		return d.m.screen == screenConversation && d.m.conv.room.Name == room && d.m.conv.loaded
	})
}

func mustSend(t *testing.T, svc *chat.Service, room, text string) chat.Message {
	t.Helper()
	m, err := svc.Send(testCtx(t), names.Room(room), text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// countTexts counts the messages of room with the given text, as another
// member reads them.
func countTexts(t *testing.T, svc *chat.Service, room, text string) int {
	t.Helper()
	p, err := svc.History(testCtx(t), names.Room(room), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range p.Messages {
		if m.Text == text {
			n++
		}
	}
	return n
}

// A join request shows as a notice, !name approves as in the original,
// the newcomer reads the history and both talk.
func TestConversationBangApproves(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	d.line("hello bob")
	d.waitText("» alice: hello bob")
	d.waitFor("the message sent", func() bool { return len(d.m.sh.outgoing) == 0 })

	bob := login(t, st, "bob")
	if err := bob.RequestJoin(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	d.waitText("bob wants to join, type !bob to approve", "Asking to join", "!bob")
	d.line("!bob")
	d.waitText("bob joined (approved by alice)")
	wctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if a, err := bob.WaitApproval(wctx, "general"); err != nil || a.By != "alice" {
		t.Fatalf("bob's approval: %+v, %v", a, err)
	}
	if n := countTexts(t, bob, "general", "hello bob"); n != 1 {
		t.Fatalf("bob reads %q %d times, want once", "hello bob", n)
	}
	mustSend(t, bob, "general", "hi alice 👋")
	d.waitText("  bob: hi alice 👋", "Members 1/2", "● alice (you)", "○ bob")
	if strings.Contains(d.screen(), "Asking to join") {
		t.Fatalf("the panel still lists bob as asking:\n%s", d.screen())
	}
}

// The commands of a conversation, each against the cluster.
func TestConversationCommands(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	bob, carol := login(t, st, "bob"), login(t, st, "carol")
	for _, s := range []*chat.Service{bob, carol} {
		if err := s.RequestJoin(ctx, "general"); err != nil {
			t.Fatal(err)
		}
	}
	d.waitText("carol wants to join")

	d.line("/deny carol")
	d.waitText("alice denied carol's request to join")
	if _, err := carol.WaitApproval(ctx, "general"); !errors.Is(err, chat.ErrDenied) {
		t.Fatalf("carol's request after /deny: %v", err)
	}

	d.line("/approve @bob")
	d.waitText("bob joined (approved by alice)")
	// /members tells who is online as the client knows it: once the
	// presence watch has said so, as the panel shows.
	d.waitText("● alice (you)")

	d.line("/members")
	d.waitText("Members of general (2, 1 online):", "bob    offline approved by alice", "alice  online  you, creator")

	d.line("/remove bob")
	d.waitText("Remove bob from general? Press y to confirm")
	d.typeText("y")
	d.waitText("alice removed bob")
	if r, err := bob.Room(ctx, "general"); err != nil || r.Member {
		t.Fatalf("bob after /remove: member %v, %v", r.Member, err)
	}

	d.line("/help")
	d.waitText("/verify USER", "!USER", "ctrl+n/p") // the newest lines of the help

	d.line("/frobnicate")
	d.waitText("unknown command /frobnicate")
	d.line("/approve")
	d.waitText("usage: /approve USER")

	d.line("//slash is text")
	d.waitText("» alice: /slash is text")

	d.line("/dm bob")
	d.waitFor("the direct chat", func() bool { return d.m.screen == screenConversation && d.m.conv.room.Name == "@alice+bob" })

	if _, err := carol.CreateRoom(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	d.line("/join lobby")
	d.waitText("Waiting for approval to join lobby")
	d.press(tea.KeyEscape)
	d.waitText("Your request to join lobby is withdrawn.")

	showRoom(t, d, "general")
	d.line("/create attic")
	d.waitFor("the new room", func() bool { return d.m.screen == screenConversation && d.m.conv.room.Name == "attic" })
	d.line("/leave")
	d.waitText("Leave attic? Press y to confirm")
	d.typeText("y")
	d.waitText("say so with --delete")
	d.line("/leave --delete")
	d.waitText("Leave attic and close it for good? Press y to confirm")
	d.typeText("y")
	d.waitText("You left attic.")
	if r, err := d.m.sh.svc.Room(ctx, "attic"); err != nil || r.Member {
		t.Fatalf("attic after /leave: member %v, %v", r.Member, err)
	}

	showRoom(t, d, "general")
	d.line("/rooms")
	d.waitFor("the list", func() bool { return d.m.screen == screenRooms })
	showRoom(t, d, "general")
	d.line("/quit")
	d.waitFor("quit", func() bool { return d.quit })
}

// The history opens with its newest page only; older pages load as the
// user scrolls up; scrolled up, new messages wait below.
func TestConversationScrollback(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	svc := d.m.sh.svc
	ctx := testCtx(t)
	if _, err := svc.CreateRoom(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	const total = pageSize + 60
	for i := range total {
		mustSend(t, svc, "big", fmt.Sprintf("message number %03d", i))
	}
	showRoom(t, d, "big")
	d.waitText(fmt.Sprintf("message number %03d", total-1))
	if n := len(d.m.conv.entries); n != pageSize {
		t.Fatalf("the room opened with %d messages, want the newest page of %d", n, pageSize)
	}
	if !d.m.conv.more || strings.Contains(d.screen(), "message number 000") {
		t.Fatal("the oldest message is there before scrolling")
	}

	// One of my old messages, reported late by the room's feed (as when
	// it was started while they were being sent), is no news: it waits
	// for its older page and counts for nothing below.
	all, err := svc.History(ctx, "big", 0)
	if err != nil || len(all.Messages) != total {
		t.Fatalf("history: %v", err)
	}
	d.press(tea.KeyPgUp)
	d.m.resolveOutgoing("big", all.Messages[0])
	if d.m.conv.newBelow != 0 || len(d.m.conv.entries) != pageSize {
		t.Fatalf("an old message of mine counted as new: %d below, %d entries", d.m.conv.newBelow, len(d.m.conv.entries))
	}

	for i := 0; !strings.Contains(d.screen(), "This is the beginning of big."); i++ {
		if i > total {
			t.Fatalf("pgup never reached the beginning:\n%s", d.screen())
		}
		d.press(tea.KeyPgUp)
		d.settle(10 * time.Millisecond)
	}
	d.waitText("message number 000", "message number 001")
	if n := len(d.m.conv.entries); n != total {
		t.Fatalf("after scrolling to the top: %d messages, want %d", n, total)
	}

	top := d.m.conv.scroll
	d.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if got := d.m.conv.scroll; got != top-wheelStep {
		t.Fatalf("wheel down: scroll %d -> %d, want %d", top, got, top-wheelStep)
	}
	d.send(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if got := d.m.conv.scroll; got != top {
		t.Fatalf("wheel up: scroll %d, want %d", got, top)
	}

	bob := login(t, st, "bob")
	if err := bob.RequestJoin(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Approve(ctx, "big", "bob"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, bob, "big", "a late one")
	d.waitText("1 new message below")
	if !strings.Contains(d.screen(), "message number 000") {
		t.Fatalf("a new message moved the view while scrolled up:\n%s", d.screen())
	}
	d.press('g', tea.ModCtrl)
	d.waitText("bob: a late one")
	if d.m.conv.scroll != 0 || strings.Contains(d.screen(), "new message below") {
		t.Fatalf("ctrl+g: scroll %d", d.m.conv.scroll)
	}
}

// Alt+number and Ctrl+N/P switch rooms without the list; other rooms'
// new messages show as unread.
func TestConversationSwitchRooms(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	d := loggedIn(t, st, "alice")
	svc := d.m.sh.svc
	bob := login(t, st, "bob")
	for _, r := range []string{"alpha", "beta"} {
		if _, err := svc.CreateRoom(ctx, names.Room(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.RequestJoin(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Approve(ctx, "beta", "bob"); err != nil {
		t.Fatal(err)
	}
	showRoom(t, d, "alpha")
	d.waitText(" 0 alpha ", "1 beta")
	d.waitFor("a subscription to beta", func() bool { f := d.m.feeds["beta"]; return f != nil && f.ch != nil })

	mustSend(t, bob, "beta", "psst, over here")
	d.waitText("1 beta •1", "1 unread elsewhere")

	d.press('1', tea.ModAlt)
	d.waitFor("beta", func() bool {
		return d.m.screen == screenConversation && d.m.conv.room.Name == "beta" && d.m.conv.loaded
	})
	d.waitText("bob: psst, over here")
	if s := d.screen(); strings.Contains(s, "•1") || strings.Contains(s, "unread elsewhere") {
		t.Fatalf("beta still unread after opening it:\n%s", s)
	}
	d.press('n', tea.ModCtrl)
	d.waitFor("alpha again", func() bool { return d.m.conv.room.Name == "alpha" })
	d.press('p', tea.ModCtrl)
	d.waitFor("beta again", func() bool { return d.m.conv.room.Name == "beta" })
}

// A message typed while the cluster is unreachable shows as pending, goes
// to the outbox, and is sent exactly once when the cluster is back; the
// status bar says what is happening meanwhile.
func TestConversationOfflineSendsOnce(t *testing.T) {
	t.Parallel()
	eps := startEtcd(t)
	p := testkit.NewProxy(t, eps[0])
	sess := newSession(openStore(t, []string{p.Endpoint()}))
	sess.outbox = func() chat.Outbox { return &testkit.Outbox{Exclusive: true} }
	d := newDriver(t, sess, Options{User: "alice"})
	d.waitText("New identity alice")
	d.enter()
	d.waitText("connected to 127.0.0.1")
	openRoom(t, d, "general")
	d.line("while online")
	d.waitFor("the first message sent", func() bool { return len(d.m.sh.outgoing) == 0 })

	p.SetDown(true)
	d.line("while offline")
	d.waitText("» alice: while offline  (sending…)", "1 sending")
	d.waitText("» alice: while offline  (queued: sent once the cluster is back)", "1 queued")
	d.waitText("offline: 0/1 endpoints reachable")

	p.SetDown(false)
	d.waitText("connected to 127.0.0.1")
	d.waitFor("the queued message delivered", func() bool { return len(d.m.sh.outgoing) == 0 })
	d.waitText("» alice: while offline")
	if s := d.screen(); strings.Contains(s, "queued") {
		t.Fatalf("still queued on screen:\n%s", s)
	}
	reader := login(t, openStore(t, eps), "reader")
	if err := reader.RequestJoin(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	if err := d.m.sh.svc.Approve(testCtx(t), "general", "reader"); err != nil {
		t.Fatal(err)
	}
	if n := countTexts(t, reader, "general", "while offline"); n != 1 {
		t.Fatalf("the room holds %q %d times, want exactly once", "while offline", n)
	}
}
