package tui

import (
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// A member removed from a room is told at once: the room on screen gives
// way to the room list, which says who removed them; removed from another
// room, the status bar says it. No input stays open on a room they are
// out of, and the members line does not go on claiming they are in.
func TestRemovedMemberToldAtOnce(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	alice := login(t, st, "alice")
	d := loggedIn(t, st, "bob")
	for _, room := range []string{"team", "other"} {
		if _, err := alice.CreateRoom(ctx, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		if err := d.m.sh.svc.RequestJoin(ctx, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		if err := alice.Approve(ctx, names.Room(room), "bob"); err != nil {
			t.Fatal(err)
		}
	}
	showRoom(t, d, "team")
	d.waitFor("a subscription to other", func() bool { f := d.m.feeds["other"]; return f != nil && f.ch != nil })

	if err := alice.Remove(ctx, "other", "bob"); err != nil {
		t.Fatal(err)
	}
	d.waitText("alice removed you from other.")
	if d.m.screen != screenConversation || d.m.conv.room.Name != "team" {
		t.Fatal("removal from another room moved bob out of team")
	}
	if d.m.bar.alert != "alice removed you from other." {
		t.Fatalf("status bar alert %q", d.m.bar.alert)
	}
	d.waitFor("other out of the tabs", func() bool { return !d.m.isMember("other") && !strings.Contains(d.m.conv.tabs(), "other") })

	if err := alice.Remove(ctx, "team", "bob"); err != nil {
		t.Fatal(err)
	}
	d.waitText("alice removed you from team.")
	if d.m.screen != screenRooms || d.m.conv != nil {
		t.Fatalf("screen %d after the removal, want the room list", d.m.screen)
	}
	if _, ok := d.m.feeds["team"]; ok {
		t.Fatal("still subscribed to team after the removal")
	}
	d.waitText("team", "ask to join")
	if s := d.screen(); strings.Contains(s, "Message team") || strings.Contains(s, "online") && strings.Contains(s, "│ team │") {
		t.Fatalf("the removed room still shows:\n%s", s)
	}
}

// /leave and /remove ask first: y carries them out, any other key cancels.
func TestLeaveAndRemoveAskFirst(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "team")
	bob := login(t, st, "bob")
	if err := bob.RequestJoin(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	d.waitText("bob wants to join")
	d.line("!bob")
	d.waitText("bob joined (approved by alice)")
	member := func(svc *chat.Service, who string) bool {
		t.Helper()
		ms, err := svc.Members(ctx, "team")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Name == who {
				return true
			}
		}
		return false
	}

	d.line("/remove bob")
	d.waitText("Remove bob from team? Press y to confirm, any other key to cancel.")
	d.typeText("n")
	d.waitText("Cancelled.")
	if !member(bob, "bob") {
		t.Fatal("bob removed although alice cancelled")
	}
	if v := d.m.conv.input.Value(); v != "" {
		t.Fatalf("the answer went to the input line: %q", v)
	}
	d.line("/remove bob")
	d.waitText("Remove bob from team?")
	d.typeText("y")
	d.waitText("alice removed bob")
	if member(bob, "bob") {
		t.Fatal("bob still a member after alice confirmed")
	}

	if err := bob.RequestJoin(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	d.waitFor("bob asking again", func() bool { return len(d.m.conv.requests) == 1 })
	d.line("!bob")
	d.waitFor("bob approved again", func() bool { return strings.Count(d.screen(), "bob joined (approved by alice)") == 2 })
	d.line("/leave")
	d.waitText("Leave team? Press y to confirm, any other key to cancel.")
	d.press('x')
	d.waitText("Cancelled.")
	if d.m.screen != screenConversation || !member(bob, "alice") {
		t.Fatal("alice left although she cancelled")
	}
	d.line("/leave")
	d.waitText("Leave team?")
	d.typeText("Y")
	d.waitText("You left team.")
	if member(bob, "alice") {
		t.Fatal("alice still a member after she confirmed")
	}
}
