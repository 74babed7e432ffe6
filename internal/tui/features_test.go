package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
)

func newID(at time.Time) string { return crypto.NewMessageID(at).String() }

// Events update the message they name in place: an edit shows the new
// text marked "(edited)", a deletion "message deleted", reactions their
// counts; a reply shows the line it answers; a topic change the header.
func TestTranscriptFoldsEvents(t *testing.T) {
	m := bareModel(t, Options{})
	c := m.conv
	now := time.Now()
	q, b, gone := newID(now), newID(now.Add(time.Millisecond)), newID(now.Add(2*time.Millisecond))
	rev := int64(10)
	ev := func(msg chat.Message) {
		rev++
		msg.Revision, msg.Time = rev, now
		if msg.ID == "" {
			msg.ID = newID(now.Add(time.Duration(rev) * time.Millisecond))
		}
		c.Update(eventMsg{room: "general", ev: chat.Event{Kind: chat.EventMessage, Message: msg, Revision: rev}})
	}
	ev(chat.Message{ID: q, Sender: "alice", Mine: true, Kind: chat.KindText, Text: "lunch at noon?"})
	ev(chat.Message{ID: b, Sender: "bob", Kind: chat.KindText, Text: "at one"})
	ev(chat.Message{ID: gone, Sender: "bob", Kind: chat.KindText, Text: "oops wrong room"})
	ev(chat.Message{Sender: "bob", Kind: chat.KindReply, ReplyTo: q, Quote: &chat.Quote{ID: q, Sender: "alice", Text: "lunch at noon?"}, Text: "yes @alice"})
	ev(chat.Message{Sender: "bob", Kind: chat.KindEdit, Edits: b, Text: "at half past one"})
	ev(chat.Message{Sender: "bob", Kind: chat.KindDelete, Deletes: gone})
	ev(chat.Message{Sender: "bob", Kind: chat.KindReaction, ReactsTo: q, Reaction: "👍"})
	ev(chat.Message{Sender: "carol", Kind: chat.KindReaction, ReactsTo: q, Reaction: "👍"})
	ev(chat.Message{Sender: "carol", Kind: chat.KindReaction, ReactsTo: q, Reaction: "🎉"})
	ev(chat.Message{Sender: "carol", Kind: chat.KindReaction, ReactsTo: q, Reaction: "🎉", Unreact: true})
	ev(chat.Message{Sender: "bob", Kind: chat.KindTopic, Topic: "lunch plans \x1b[2J"})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	s := ansi.Strip(m.View().Content)
	for _, want := range []string{
		"» alice: lunch at noon?  [👍 2]",
		"  bob: at half past one (edited)",
		"  bob: message deleted",
		"      ↪ alice: lunch at noon?  ",
		"@ bob: yes @alice",
		"* bob set the topic: lunch plans ^[[2J",
		" topic: lunch plans ^[[2J (set by bob)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q:\n%s", want, s)
		}
	}
	for _, gone := range []string{"oops", "at one\n", "🎉"} {
		if strings.Contains(s, gone) {
			t.Errorf("transcript shows %q:\n%s", gone, s)
		}
	}
	if strings.Contains(m.View().Content, "\x1b[2J") {
		t.Error("a topic's escape sequence reached the terminal")
	}
}

// joinedBy has bob join room (made by the driver's user) and approves him.
func joinedBy(t *testing.T, d *driver, room string) *chat.Service {
	t.Helper()
	ctx := testCtx(t)
	bob := login(t, openStore(t, d.m.sh.svc.Endpoints()), "bob")
	if err := bob.RequestJoin(ctx, names.Room(room)); err != nil {
		t.Fatal(err)
	}
	if err := d.m.sh.svc.Approve(ctx, names.Room(room), "bob"); err != nil {
		t.Fatal(err)
	}
	d.waitText("bob joined")
	return bob
}

// folded reads room as svc's user would, in its final state.
func folded(t *testing.T, svc *chat.Service, room string) []chat.Message {
	t.Helper()
	p, err := svc.History(testCtx(t), names.Room(room), 0)
	if err != nil {
		t.Fatal(err)
	}
	return chat.Fold(p.Messages)
}

func findText(ms []chat.Message, text string) (chat.Message, bool) {
	for _, m := range ms {
		if m.Text == text {
			return m, true
		}
	}
	return chat.Message{}, false
}

// A message is selected with alt+↑ and answered, edited, deleted and
// reacted to with r, e, d and a; what others do shows in place.
func TestSelectAndAct(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	bob := joinedBy(t, d, "general")
	q := mustSend(t, bob, "general", "lunch?")
	d.waitText("  bob: lunch?")

	// Reply.
	d.press(tea.KeyUp, tea.ModAlt)
	d.waitText("▶ bob: lunch?", "selected: ↑/↓ move · r reply")
	d.typeText("r")
	d.waitText("replying to bob: lunch?")
	d.line("yes, at noon")
	d.waitText("      ↪ bob: lunch?", "» alice: yes, at noon")
	d.waitFor("the reply sent", func() bool { return len(d.m.sh.outgoing) == 0 })
	if r, ok := findText(folded(t, bob, "general"), "yes, at noon"); !ok || r.Kind != chat.KindReply || r.ReplyTo != q.ID {
		t.Fatalf("bob reads the reply as %+v", r)
	}

	// Edit mine: the input holds its text.
	d.press(tea.KeyUp, tea.ModAlt)
	d.waitText("▶ alice: yes, at noon")
	d.typeText("e")
	d.waitText("editing your message", "> yes, at noon")
	for range len("noon") {
		d.press(tea.KeyBackspace)
	}
	d.line("one")
	d.waitText("» alice: yes, at one (edited)")
	if _, ok := findText(folded(t, bob, "general"), "yes, at one"); !ok {
		t.Fatal("bob does not read the edit")
	}

	// Someone else's message cannot be edited or deleted.
	d.press(tea.KeyUp, tea.ModAlt)
	d.press(tea.KeyUp)
	d.waitText("▶ bob: lunch?")
	d.typeText("e")
	d.waitText("only your own messages can be edited")

	// React with the first of the quick reactions.
	d.press(tea.KeyUp, tea.ModAlt)
	d.press(tea.KeyUp)
	d.waitText("▶ bob: lunch?")
	d.typeText("a")
	d.waitText("react: 1 👍  2 ❤️")
	d.typeText("1")
	d.waitText("  bob: lunch?  [👍 1]")

	// bob edits and reacts: alice sees it in place.
	if _, err := bob.Edit(testCtx(t), "general", q.ID, "lunch at one?"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.React(testCtx(t), "general", q.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	d.waitText("  bob: lunch at one? (edited)  [👍 2]", "      ↪ bob: lunch at one?")

	// Delete mine, after saying yes.
	d.line("oops")
	d.waitText("» alice: oops")
	d.waitFor("oops sent", func() bool { return len(d.m.sh.outgoing) == 0 })
	d.press(tea.KeyUp, tea.ModAlt)
	d.waitText("▶ alice: oops")
	d.typeText("d")
	d.waitText(`delete your message "oops"? y deletes`)
	d.typeText("n")
	d.waitText("▶ alice: oops")
	d.typeText("d")
	d.typeText("y")
	d.waitText("» alice: message deleted")
	if _, ok := findText(folded(t, bob, "general"), "oops"); ok {
		t.Fatal("bob still reads the deleted message")
	}
	if s := d.screen(); strings.Contains(s, "oops") {
		t.Fatalf("the deleted message still shows:\n%s", s)
	}
}

// /search lists the messages found, newest first, the words highlighted;
// enter shows one in the transcript, loading the older pages it needs.
func TestSearchJumps(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	svc := d.m.sh.svc
	if _, err := svc.CreateRoom(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, svc, "general", "the first needle, long ago")
	for i := range pageSize + 50 {
		mustSend(t, svc, "general", fmt.Sprintf("filler %d", i))
	}
	mustSend(t, svc, "general", "a NEEDLE again, recent")
	showRoom(t, d, "general")
	if d.m.conv.ids[firstID(t, svc, "general")] {
		t.Fatal("the oldest message is loaded already: the test cannot tell")
	}

	d.line("/search")
	d.waitText("usage: /search WORDS")
	d.line("/search needle")
	d.waitText(`2 messages holding "needle" in general, newest first:`, "▶ ", "alice: a NEEDLE again, recent", "alice: the first needle, long ago")
	if v := d.m.View().Content; !strings.Contains(v, d.m.sh.st.match.Render("NEEDLE")) {
		t.Errorf("the word found is not highlighted:\n%q", v)
	}
	d.press(tea.KeyDown)
	d.enter()
	d.waitText("▶ alice: the first needle, long ago")
	if v := d.m.View().Content; !strings.Contains(v, d.m.sh.st.match.Render("needle")) {
		t.Errorf("the word is not highlighted in the transcript")
	}
	d.press(tea.KeyEscape)
	d.waitFor("no selection", func() bool { return d.m.conv.sel == "" })

	d.line("/search nothinglikethis")
	d.waitText(`No message of general holds "nothinglikethis" (252 messages searched).`)
}

func firstID(t *testing.T, svc *chat.Service, room string) string {
	p, err := svc.History(testCtx(t), names.Room(room), 0)
	if err != nil || len(p.Messages) == 0 {
		t.Fatal(err)
	}
	return p.Messages[0].ID
}

// /topic sets the topic the header shows, also to the other members and
// in a conversation opened later whose pages do not reach it; /disappear
// sets how long messages live, shown in the header too.
func TestTopicAndDisappear(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	d := loggedIn(t, st, "alice")
	openRoom(t, d, "general")
	bob := joinedBy(t, d, "general")
	d.line("/topic")
	d.waitText("general has no topic: /topic TEXT sets one.")
	d.line("/topic release on Friday")
	d.waitText(" topic: release on Friday (set by alice)", "* alice set the topic: release on Friday")
	d.line("/topic")
	d.waitText("The topic of general, set by alice: release on Friday")
	d.line("/disappear soon")
	d.waitText(`/disappear "soon": give a duration such as 30m, 1h or 7d`)
	d.line("/disappear 1h")
	d.waitText("* alice made messages disappear 1h after they are sent", "messages disappear after 1h")
	if r, err := bob.Room(testCtx(t), "general"); err != nil || r.DisappearSeconds != 3600 {
		t.Fatalf("bob sees disappear = %d, %v", r.DisappearSeconds, err)
	}

	// Opened again with the topic further back than the first page.
	for i := range pageSize + 10 {
		mustSend(t, bob, "general", fmt.Sprintf("filler %d", i))
	}
	d.send(showRoomsMsg{})
	showRoom(t, d, "general")
	d.waitText(" topic: release on Friday (set by alice)  ·  messages disappear after 1h")
	d.line("/topic --clear")
	d.waitText("* alice cleared the topic")
	d.waitFor("no topic in the header", func() bool { return !strings.Contains(d.screen(), "topic: release") })
	d.line("/disappear 0")
	d.waitText("* alice made messages stay")
}
