package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/testkit"
)

func TestRoomsHeadline(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, "There are no rooms yet. Create one to start chatting:"},
		{1, "There is 1 room:"},
		{2, "There are 2 rooms:"},
		{11, "There are 11 rooms:"},
	} {
		if got := roomsHeadline(tt.n); got != tt.want {
			t.Errorf("roomsHeadline(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestOrderRooms(t *testing.T) {
	in := []chat.RoomInfo{
		{Name: "@alice+bob", Kind: chat.Direct, Member: true},
		{Name: "b", Kind: chat.Group},
		{Name: "c", Kind: chat.Group, Member: true},
		{Name: "d", Kind: chat.Group, Requested: true},
		{Name: "e", Kind: chat.Group, Member: true},
	}
	var got []string
	for _, r := range orderRooms("alice", in) {
		got = append(got, r.Name)
	}
	if want := "c e @alice+bob b d"; strings.Join(got, " ") != want {
		t.Fatalf("orderRooms = %v, want %s", got, want)
	}
}

// The list numbers rooms as the original did, updates live as rooms
// appear, and opens a room chosen by typing its number.
func TestRoomListLiveAndByNumber(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	alice := login(t, st, "alice")
	ctx := testCtx(t)
	for _, r := range []string{"general", "random"} {
		if _, err := alice.CreateRoom(ctx, names.Room(r)); err != nil {
			t.Fatal(err)
		}
	}
	d := loggedIn(t, st, "bob")
	d.waitText("There are 2 rooms:", "Rooms you may ask to join", "[0]   general", "[1]   random", "1 member, ask to join",
		"[2]   create a room", "[3]   start a direct chat")

	if _, err := alice.CreateRoom(ctx, "zeta"); err != nil {
		t.Fatal(err)
	}
	d.waitText("There are 3 rooms:", "[2]   zeta", "[4]   start a direct chat")

	d.typeText("1")
	if d.m.rooms.cursor != 1 {
		t.Fatalf("typing 1 put the cursor on %d", d.m.rooms.cursor)
	}
	d.enter()
	d.waitText("Waiting for approval to join random")
	if d.m.screen != screenWaiting {
		t.Fatalf("screen %d after choosing a room to join", d.m.screen)
	}
	reqs, err := alice.Requests(ctx, "random")
	if err != nil || len(reqs) != 1 || reqs[0].User != "bob" {
		t.Fatalf("requests of random = %v, %v; want bob's", reqs, err)
	}
}

// The create and direct-chat entries ask for a name and open the room;
// both then show in the list with their numbers; arrows and Enter open.
func TestRoomListCreateAndDirect(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	login(t, st, "bob")
	d := loggedIn(t, st, "alice")
	d.waitText("There are no rooms yet", "[0]   create a room", "[1]   start a direct chat")

	d.enter() // the cursor starts on "create a room"
	d.waitText("Name of the new room:")
	d.line("bad name")
	d.waitText("invalid name")
	for range len("bad name") {
		d.press(tea.KeyBackspace)
	}
	d.line("lounge")
	d.waitFor("the conversation", func() bool { return d.m.screen == screenConversation })
	d.waitText("This is the beginning of lounge.")

	d.press(tea.KeyEscape)
	d.waitText("There is 1 room:", "Your rooms", "[0]   lounge")

	d.typeText("d")
	d.waitText("Chat with user:")
	d.line("bob")
	d.waitFor("the direct chat", func() bool { return d.m.screen == screenConversation && d.m.conv.room.Kind == chat.Direct })
	d.waitText("This is the beginning of @bob.")

	d.press(tea.KeyEscape)
	d.waitText("There are 2 rooms:", "Direct chats", "[1]   @bob", "direct")
	d.press(tea.KeyUp) // from [0] wraps round to the last entry
	if n := len(d.m.rooms.entries()); d.m.rooms.cursor != n-1 {
		t.Fatalf("up from the top: cursor %d, want %d", d.m.rooms.cursor, n-1)
	}
	d.press(tea.KeyDown)
	d.press(tea.KeyDown)
	d.enter()
	d.waitFor("the direct chat again", func() bool {
		return d.m.screen == screenConversation && d.m.conv.room.Name == "@alice+bob"
	})
}

// q quits from the list.
func TestRoomListQuit(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	d.typeText("q")
	d.waitFor("quit", func() bool { return d.quit })
}

// Unread counts outlive the session: the next one counts the messages from
// others since the newest message the last one showed, not my own.
func TestRoomListUnreadSinceLastSession(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	sess := newSession(st)
	marks := &testkit.ReadMarks{}
	sess.marks = marks
	alice, err := sess.Login(ctx, "alice", []byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	bob := login(t, st, "bob")
	if err := bob.RequestJoin(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(ctx, "general", "bob"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, bob, "general", "seen in the first session")

	first := newDriver(t, sess, Options{User: "alice"})
	first.waitFor("the room list", func() bool { return first.m.screen == screenRooms && first.m.rooms.loaded })
	showRoom(t, first, "general")
	first.waitText("seen in the first session")
	first.waitFor("the read mark", func() bool { return marks.ReadMark("general") > 0 })
	first.line("/quit")
	first.waitFor("quit", func() bool { return first.quit })

	mustSend(t, bob, "general", "new one")
	mustSend(t, bob, "general", "new two")
	mustSend(t, alice, "general", "mine, from another client")

	second := newDriver(t, sess, Options{User: "alice"})
	second.waitText("[0]   general", "2 unread")
	showRoom(t, second, "general")
	second.waitText("new two")
	if a := second.m.sh.act("general"); a.unread != 0 {
		t.Fatalf("unread after opening the room: %d", a.unread)
	}
}
