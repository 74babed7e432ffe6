package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/termtext"
)

// A message from someone else that mentions me ("@alice", or a reply to
// one of mine) or that comes in a direct room calls for me: the room is
// marked in the list and the tabs apart from plain unread counts, the
// mention is highlighted, and unless the room is muted (/mute, kept in
// the home) or the bell is off (--no-bell) the terminal bell rings and,
// where the terminal shows them, a desktop notification comes up. Both
// are written by the interface itself, never taken from message text,
// whose characters reach the notification only after every control
// character is dropped.

// Notify is the desktop notification a terminal understands.
type Notify int

// Notification protocols.
const (
	NotifyNone   Notify = iota // the bell only
	NotifyOSC9                 // OSC 9 (iTerm2, WezTerm, Ghostty, Windows Terminal)
	NotifyOSC777               // OSC 777 notify (foot, urxvt, VTE terminals)
)

// DetectNotify picks the notification protocol of the terminal from the
// environment: PARLEY_NOTIFY (osc9, osc777, none) if set, else what
// TERM_PROGRAM, TERM and VTE_VERSION say. Inside tmux or screen, which do
// not pass these sequences on, there is none.
func DetectNotify(getenv func(string) string) Notify {
	switch strings.ToLower(getenv("PARLEY_NOTIFY")) {
	case "osc9":
		return NotifyOSC9
	case "osc777":
		return NotifyOSC777
	case "none", "off", "0":
		return NotifyNone
	}
	term := getenv("TERM")
	switch {
	case getenv("TMUX") != "" || getenv("STY") != "" || strings.HasPrefix(term, "screen") || strings.HasPrefix(term, "tmux"):
		return NotifyNone
	}
	switch getenv("TERM_PROGRAM") {
	case "iTerm.app", "WezTerm", "ghostty":
		return NotifyOSC9
	}
	if getenv("WT_SESSION") != "" {
		return NotifyOSC9
	}
	if strings.HasPrefix(term, "foot") || strings.HasPrefix(term, "rxvt-unicode") || getenv("VTE_VERSION") != "" {
		return NotifyOSC777
	}
	return NotifyNone
}

// bell rings the terminal bell.
const bell = "\a"

// notification is the escape sequence of a desktop notification: title
// and body are stripped of every control character (and, for OSC 777,
// of its field separator), so nothing in them can end the sequence or
// start another.
func notification(p Notify, title, body string) string {
	clean := func(s string, n int) string {
		s = strings.Map(func(r rune) rune {
			switch {
			case r == '\n' || r == '\t' || termtext.Neutralised(r):
				return ' '
			case p == NotifyOSC777 && r == ';':
				return ','
			}
			return r
		}, s)
		if r := []rune(s); len(r) > n {
			s = string(r[:n-1]) + "…"
		}
		return s
	}
	title, body = clean(title, 60), clean(body, 160)
	switch p {
	case NotifyOSC9:
		return "\x1b]9;" + title + ": " + body + "\a"
	case NotifyOSC777:
		return "\x1b]777;notify;" + title + ";" + body + "\a"
	}
	return ""
}

// forMe reports whether a live message in room calls for me.
func (m *model) forMe(room string, msg chat.Message) bool {
	if msg.Mine || msg.Rejected != "" || (msg.Kind != chat.KindText && msg.Kind != chat.KindReply && msg.Kind != "") {
		return false
	}
	if names.Room(room).IsDirect() {
		return true
	}
	return msg.Mentions(m.sh.me)
}

// alert rings the bell and raises a notification for msg, unless the
// room is muted or the bell is off.
func (m *model) alert(room string, msg chat.Message) tea.Cmd {
	if m.sh.opts.NoBell || m.sh.muted[room] {
		return nil
	}
	seq := bell
	if p := m.sh.opts.Notify; p != NotifyNone {
		seq += notification(p, "Parley: "+msg.Sender+" in "+displayRoom(m.sh.me, room), msg.Text)
	}
	return tea.Raw(seq)
}

// Muted rooms.

// Mutes keeps the rooms a user muted, in their home. *cli.App satisfies
// it; with a Session that does not, mutes last for the session.
type Mutes interface {
	// MutedRooms returns user's muted rooms (none if never set).
	MutedRooms(user string) ([]string, error)
	// SetMutedRooms records them.
	SetMutedRooms(user string, rooms []string) error
}

// mutesMsg brings the muted rooms read at login, or says they were
// saved (or why not).
type mutesMsg struct {
	rooms []string
	saved bool
	err   error
}

func loadMutesCmd(s Session, user string) tea.Cmd {
	mu, ok := s.(Mutes)
	if !ok {
		return nil
	}
	return func() tea.Msg {
		rooms, err := mu.MutedRooms(user)
		return mutesMsg{rooms: rooms, err: err}
	}
}

func saveMutesCmd(s Session, user string, muted map[string]bool) tea.Cmd {
	mu, ok := s.(Mutes)
	if !ok {
		return nil
	}
	rooms := make([]string, 0, len(muted))
	for r := range muted {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return func() tea.Msg {
		if err := mu.SetMutedRooms(user, rooms); err != nil {
			return mutesMsg{err: fmt.Errorf("remember the muted rooms: %w", err)}
		}
		return mutesMsg{saved: true}
	}
}

func (m *model) onMutes(msg mutesMsg) tea.Cmd {
	if msg.err != nil {
		m.bar.alert = msg.err.Error()
		return nil
	}
	for _, r := range msg.rooms {
		m.sh.muted[r] = true
	}
	return nil
}

// muteCommand is /mute [ROOM] and /unmute [ROOM].
func (c *conversation) muteCommand(mute bool, arg string) tea.Cmd {
	room := c.room.Name
	if arg != "" {
		r, err := c.resolveRoom(arg)
		if err != nil {
			c.addError(err)
			return nil
		}
		room = r
	}
	sh := c.sh
	shown := displayRoom(sh.me, room)
	if mute {
		sh.muted[room] = true
		c.addInfo(fmt.Sprintf("%s is muted: no bell or notification for it (/unmute %s undoes it).", shown, shown))
	} else {
		delete(sh.muted, room)
		c.addInfo(fmt.Sprintf("%s rings again when it calls for you.", shown))
	}
	return saveMutesCmd(sh.sess, sh.me, sh.muted)
}

// resolveRoom reads a room named in a command: "@bob" for my direct room
// with bob.
func (c *conversation) resolveRoom(arg string) (string, error) {
	var r names.Room
	var err error
	if c.sh.me != "" {
		r, err = names.ParseRoomArg(names.User(c.sh.me), arg)
	} else {
		r, err = names.ParseRoom(arg)
	}
	return r.String(), err
}

// topicCommand is /topic (show), /topic TEXT (set) and /topic --clear.
func (c *conversation) topicCommand(arg string) tea.Cmd {
	if arg == "" {
		if topic, by := c.currentTopic(); topic != "" {
			c.addInfo(fmt.Sprintf("The topic of %s, set by %s: %s", displayRoom(c.sh.me, c.room.Name), by, topic))
		} else {
			c.addInfo(fmt.Sprintf("%s has no topic: /topic TEXT sets one.", displayRoom(c.sh.me, c.room.Name)))
		}
		return nil
	}
	if arg == "--clear" {
		arg = ""
	}
	if err := chat.CheckTopic(arg); err != nil {
		c.addError(err)
		return nil
	}
	svc, room := c.sh.svc, c.room.Name
	return actCmd(c.sh.ctx, c.sh.timeout, room, "topic", func(ctx context.Context) (chat.Message, error) { return svc.SetTopic(ctx, names.Room(room), arg) })
}

// disappearCommand is /disappear (show) and /disappear DURATION.
func (c *conversation) disappearCommand(arg string) tea.Cmd {
	shown := displayRoom(c.sh.me, c.room.Name)
	if arg == "" {
		if d := c.room.DisappearSeconds; d > 0 {
			c.addInfo(fmt.Sprintf("Messages sent to %s disappear after %s (/disappear 0 makes them stay).", shown, lifetimeWords(secondsDuration(d))))
		} else {
			c.addInfo(fmt.Sprintf("Messages sent to %s stay: /disappear 1h makes them disappear after an hour.", shown))
		}
		return nil
	}
	d, err := chat.ParseLifetime(arg)
	if err != nil {
		c.addError(fmt.Errorf("/disappear %w", err))
		return nil
	}
	if int64(d.Seconds()) == c.room.DisappearSeconds {
		c.addInfo("Nothing to change: that is the setting already.")
		return nil
	}
	svc, room := c.sh.svc, c.room.Name
	return actionCmd(c.sh.ctx, c.sh.timeout, room, func(ctx context.Context) error { return svc.SetDisappear(ctx, names.Room(room), d) })
}

// secondsDuration is a lifetime in seconds as a duration.
func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }
