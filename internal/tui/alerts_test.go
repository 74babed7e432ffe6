package tui

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

func TestDetectNotify(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want Notify
	}{
		{map[string]string{}, NotifyNone},
		{map[string]string{"TERM_PROGRAM": "iTerm.app"}, NotifyOSC9},
		{map[string]string{"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"}, NotifyOSC9},
		{map[string]string{"TERM": "foot"}, NotifyOSC777},
		{map[string]string{"TERM": "xterm-256color", "VTE_VERSION": "7600"}, NotifyOSC777},
		{map[string]string{"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"}, NotifyNone},
		{map[string]string{"TERM": "screen-256color", "VTE_VERSION": "7600"}, NotifyNone},
		{map[string]string{"PARLEY_NOTIFY": "osc777", "TMUX": "x"}, NotifyOSC777},
		{map[string]string{"PARLEY_NOTIFY": "none", "TERM_PROGRAM": "iTerm.app"}, NotifyNone},
	} {
		if got := DetectNotify(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DetectNotify(%v) = %d, want %d", tt.env, got, tt.want)
		}
	}
}

// Nothing in a message can end the notification's escape sequence or
// start another: every control character is dropped.
func TestNotificationSanitised(t *testing.T) {
	evil := "hi\x1b]0;pwned\a\x1b[2J\u009b31m\u202e; next\nline"
	for _, tt := range []struct {
		p    Notify
		want string
	}{
		{NotifyOSC9, "\x1b]9;Parley: bob: hi ]0,pwned  [2J 31m , next line\a"},
		{NotifyOSC777, "\x1b]777;notify;Parley: bob;hi ]0,pwned  [2J 31m , next line\a"},
		{NotifyNone, ""},
	} {
		got := notification(tt.p, "Parley: bob", evil)
		if tt.p == NotifyOSC9 {
			tt.want = strings.ReplaceAll(tt.want, ",", ";")
		}
		if got != tt.want {
			t.Errorf("notification(%d) = %q, want %q", tt.p, got, tt.want)
		}
		if tt.p != NotifyNone {
			inner := got[2 : len(got)-1]
			if strings.ContainsAny(inner, "\x1b\a\u009b\u202e\n") {
				t.Errorf("notification(%d) = %q holds a control character", tt.p, got)
			}
		}
	}
}

// rawOf runs a command and returns what it would write raw.
func rawOf(cmd tea.Cmd) string {
	if cmd == nil {
		return ""
	}
	if r, ok := cmd().(tea.RawMsg); ok {
		return fmt.Sprint(r.Msg)
	}
	return ""
}

// Mentions of me, replies to my messages and direct messages ring the
// bell (with a notification where the terminal shows them); my own
// messages, other messages, events, muted rooms and --no-bell do not.
func TestAlertRules(t *testing.T) {
	m := bareModel(t, Options{Notify: NotifyOSC9})
	text := func(sender, s string) chat.Message {
		return chat.Message{Sender: sender, Kind: chat.KindText, Text: s}
	}
	reply := text("bob", "yes")
	reply.Kind, reply.Quote = chat.KindReply, &chat.Quote{Sender: "alice"}
	edit := text("bob", "@alice")
	edit.Kind = chat.KindEdit
	mine := text("alice", "@alice")
	mine.Mine = true
	for _, tt := range []struct {
		name string
		room string
		msg  chat.Message
		want bool
	}{
		{"mention", "general", text("bob", "hi @alice"), true},
		{"no mention", "general", text("bob", "hi all"), false},
		{"another's name", "general", text("bob", "hi @alicia"), false},
		{"reply to mine", "general", reply, true},
		{"edit", "general", edit, false},
		{"mine", "general", mine, false},
		{"direct", "@alice+bob", text("bob", "psst"), true},
	} {
		if got := m.forMe(tt.room, tt.msg); got != tt.want {
			t.Errorf("%s: forMe = %v, want %v", tt.name, got, tt.want)
		}
	}
	got := rawOf(m.alert("general", text("bob", "hi @alice")))
	if want := "\a\x1b]9;Parley: bob in general: hi @alice\a"; got != want {
		t.Errorf("alert = %q, want %q", got, want)
	}
	m.sh.muted["general"] = true
	if got := rawOf(m.alert("general", text("bob", "hi @alice"))); got != "" {
		t.Errorf("a muted room alerts: %q", got)
	}
	quiet := bareModel(t, Options{NoBell: true})
	if got := rawOf(quiet.alert("general", text("bob", "hi @alice"))); got != "" {
		t.Errorf("--no-bell alerts: %q", got)
	}
	plain := bareModel(t, Options{})
	if got := rawOf(plain.alert("@alice+bob", text("bob", "psst"))); got != "\a" {
		t.Errorf("alert without notifications = %q, want the bell alone", got)
	}
}

// A mention elsewhere marks its room apart from plain unread messages, in
// the tabs and the room list; /mute is remembered by the session.
func TestMentionMarksRoom(t *testing.T) {
	t.Parallel()
	st := openStore(t, startEtcd(t))
	sess := newSession(st)
	mutes := &memMutes{}
	d := newDriver(t, &mutingSession{sess, mutes}, Options{User: "alice"})
	d.waitText("New identity alice")
	d.enter()
	d.waitFor("the room list", func() bool { return d.m.screen == screenRooms && d.m.rooms.loaded })
	openRoom(t, d, "general")
	bob := joinedBy(t, d, "general")
	openRoom(t, d, "quiet")

	mustSend(t, bob, "general", "plain words")
	d.waitText(" 0 general •1 ")
	mustSend(t, bob, "general", "ping @alice")
	d.waitText(" 0 general •2@ ")
	d.waitFor("the bell", func() bool { return len(d.raw) == 1 && d.raw[0] == "\a" })

	d.send(showRoomsMsg{})
	d.waitText("2 unread   @1")

	showRoom(t, d, "general")
	d.waitText("@ bob: ping @alice")
	d.line("/mute")
	d.waitText("general is muted")
	d.waitFor("the mute saved", func() bool { return mutes.saved() == "general" })
	showRoom(t, d, "quiet")
	mustSend(t, bob, "general", "again @alice")
	d.waitText(" 0 general •1@ ")
	d.line("/unmute general")
	d.waitFor("the unmute saved", func() bool { return mutes.saved() == "" })
	mustSend(t, bob, "general", "and again @alice")
	d.waitText(" 0 general •2@ ")
	d.waitFor("the second bell", func() bool { return len(d.raw) == 2 })
}

type memMutes struct {
	mu    sync.Mutex
	rooms []string
}

func (m *memMutes) saved() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.rooms, ",")
}

// mutingSession is a session that keeps mutes.
type mutingSession struct {
	*fakeSession
	m *memMutes
}

func (s *mutingSession) MutedRooms(user string) ([]string, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return append([]string(nil), s.m.rooms...), nil
}

func (s *mutingSession) SetMutedRooms(user string, rooms []string) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.rooms = append([]string(nil), rooms...)
	return nil
}
