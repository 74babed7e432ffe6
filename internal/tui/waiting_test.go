package tui

import (
	"fmt"
	"slices"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// The waiting screen names the members who can approve, follows the room
// live, and opens the room with its history the moment one approves.
func TestWaitingApproved(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	alice := login(t, st, "alice")
	if _, err := alice.CreateRoom(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := alice.Send(ctx, "general", fmt.Sprintf("before you came %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	d := loggedIn(t, st, "bob")
	d.waitText("[0]   general")
	d.enter()
	d.waitText("Waiting for approval to join general", "typing !bob", "1 member can approve:", "alice")

	// Presence shows live: alice comes online while bob waits.
	stop, err := alice.GoOnline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	d.waitText("● alice (online)")

	// The member list follows the room: carol joins meanwhile.
	carol := login(t, st, "carol")
	if err := carol.RequestJoin(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(ctx, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	d.waitText("2 members can approve:", "carol")
	if d.m.screen != screenWaiting {
		t.Fatal("left the waiting screen before bob was approved")
	}

	if err := carol.Approve(ctx, "general", "bob"); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the conversation", func() bool { return d.m.screen == screenConversation })
	d.waitText("before you came 0", "before you came 2", "you joined (approved by carol)")
}

// Esc withdraws the request; a denial takes bob back to the room list at
// once, saying who denied it.
func TestWaitingCancelAndDenied(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	alice := login(t, st, "alice")
	if _, err := alice.CreateRoom(ctx, "club"); err != nil {
		t.Fatal(err)
	}
	d := loggedIn(t, st, "bob")
	d.waitText("[0]   club")
	d.enter()
	d.waitText("Waiting for approval to join club")
	requests(t, alice, "club", "bob")

	d.press(tea.KeyEscape)
	d.waitText("Your request to join club is withdrawn.", "There is 1 room:")
	requests(t, alice, "club")

	d.waitText("1 member, ask to join") // the list shows the request gone
	d.enter()
	d.waitText("Waiting for approval to join club")
	requests(t, alice, "club", "bob")
	if err := alice.Deny(ctx, "club", "bob"); err != nil {
		t.Fatal(err)
	}
	// At once, on the room list, without a key.
	d.waitText("alice denied your request to join club.", "There is 1 room:")
	if d.m.screen != screenRooms || d.m.waiting != nil {
		t.Fatalf("screen %d after the denial, want the room list", d.m.screen)
	}
	if _, ok := d.m.feeds["club"]; ok {
		t.Fatal("still subscribed to club after the denial")
	}
}

// requests checks the users asking to join room. The screens show a
// request made or withdrawn only once the call returned, so no wait.
func requests(t *testing.T, svc *chat.Service, room string, want ...string) {
	t.Helper()
	reqs, err := svc.Requests(testCtx(t), names.Room(room))
	var got []string
	for _, r := range reqs {
		got = append(got, r.User)
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("requests of %s = %v, %v; want %v", room, got, err, want)
	}
}

// A list a moment old, still showing a request that was withdrawn
// elsewhere, asks again rather than wait for a request that is gone.
func TestWaitingFromStaleList(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	alice := login(t, st, "alice")
	if _, err := alice.CreateRoom(ctx, "club"); err != nil {
		t.Fatal(err)
	}
	d := loggedIn(t, st, "bob")
	d.waitText("1 member, ask to join")
	rooms := slices.Clone(d.m.sh.rooms)
	i := slices.IndexFunc(rooms, func(r chat.RoomInfo) bool { return r.Name == "club" })
	if i < 0 {
		t.Fatalf("club is not listed: %+v", rooms)
	}
	rooms[i].Requested = true // as listed just before a withdrawal
	d.m.rooms.setRooms(rooms, nil)
	d.waitText("1 member, join requested")
	requests(t, alice, "club")

	d.enter()
	d.waitText("Waiting for approval to join club")
	requests(t, alice, "club", "bob")
}
