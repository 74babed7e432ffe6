package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// orderRooms puts rooms in list order, which is also their numbering: my
// group rooms, my direct rooms, then the group rooms I may ask to join.
// Within each part chat's order (by name) stays.
func orderRooms(me string, rooms []chat.RoomInfo) []chat.RoomInfo {
	out := make([]chat.RoomInfo, 0, len(rooms))
	for _, part := range []func(chat.RoomInfo) bool{
		func(r chat.RoomInfo) bool { return r.Kind != chat.Direct && r.Member },
		func(r chat.RoomInfo) bool { return r.Kind == chat.Direct },
		func(r chat.RoomInfo) bool { return r.Kind != chat.Direct && !r.Member },
	} {
		for _, r := range rooms {
			if part(r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// roomsHeadline is the list's first sentence, worded for no room, one room
// or many, as in the original design.
func roomsHeadline(n int) string {
	switch n {
	case 0:
		return "There are no rooms yet. Create one to start chatting:"
	case 1:
		return "There is 1 room:"
	}
	return fmt.Sprintf("There are %d rooms:", n)
}

type entryAction int

const (
	actRoom entryAction = iota
	actCreate
	actDirect
)

// listEntry is one numbered line of the list.
type listEntry struct {
	act  entryAction
	room chat.RoomInfo
}

type promptKind int

const (
	promptNone promptKind = iota
	promptCreate
	promptDirect
)

// roomsModel is the room list: each room with its number, chosen with the
// arrow keys and Enter or by typing the number; then entries to create a
// room and to start a direct chat.
type roomsModel struct {
	sh     *shared
	width  int
	height int
	help   help.Model

	rooms    []chat.RoomInfo // in list order
	rejected int
	loaded   bool
	progress int // room records read by the listing under way
	cursor   int
	typed    string // digits typed so far
	prompt   promptKind
	input    textinput.Model
	busy     bool   // a create, direct chat or join is under way
	err      string // why the last action failed
	listErr  string // why the last listing failed
	info     string
}

func newRooms(sh *shared) *roomsModel {
	r := &roomsModel{sh: sh, help: help.New(), input: sh.st.newInput("")}
	r.help.Styles = sh.st.help
	return r
}

func (r *roomsModel) SetSize(w, h int) {
	r.width, r.height = w, h
	r.input.SetWidth(max(w-30, 10))
	r.help.SetWidth(w - 4)
}

func (r *roomsModel) entries() []listEntry {
	out := make([]listEntry, 0, len(r.rooms)+2)
	for _, room := range r.rooms {
		out = append(out, listEntry{act: actRoom, room: room})
	}
	return append(out, listEntry{act: actCreate}, listEntry{act: actDirect})
}

func (r *roomsModel) setRooms(rooms []chat.RoomInfo, rejected []chat.Rejected) {
	// Keep the cursor on the same room when the list changes under it.
	var at string
	if es := r.entries(); r.loaded && r.cursor < len(es) && es[r.cursor].act == actRoom {
		at = es[r.cursor].room.Name
	}
	r.rooms, r.rejected, r.loaded, r.progress = rooms, len(rejected), true, 0
	r.listErr = ""
	if at != "" {
		for i, room := range rooms {
			if room.Name == at {
				r.cursor = i
			}
		}
	}
	r.cursor = min(r.cursor, len(r.entries())-1)
}

// setError shows why an action failed.
func (r *roomsModel) setError(err error) {
	r.busy = false
	r.info = ""
	r.err = err.Error()
}

// setListError shows why the rooms could not be listed.
func (r *roomsModel) setListError(err error) {
	r.listErr = "Cannot list the rooms: " + err.Error()
}

func (r *roomsModel) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if r.prompt != promptNone {
		if ok {
			switch {
			case key.Matches(k, r.sh.keys.Enter):
				return r.submitPrompt()
			case key.Matches(k, r.sh.keys.Back):
				r.prompt, r.err = promptNone, ""
				return nil
			}
		}
		var cmd tea.Cmd
		r.input, cmd = r.input.Update(msg)
		return cmd
	}
	if !ok || r.busy {
		return nil
	}
	keys := r.sh.keys
	n := len(r.entries())
	if key.Matches(k, keys.Number) {
		r.typed += k.String()
		if i, err := strconv.Atoi(r.typed); err == nil && i < n {
			r.cursor = i
		} else {
			r.typed = k.String() // start again from this digit
			if i, _ := strconv.Atoi(r.typed); i < n {
				r.cursor = i
			}
		}
		return nil
	}
	typed := r.typed
	r.typed = ""
	switch {
	case key.Matches(k, keys.Up):
		r.cursor = (r.cursor - 1 + n) % n
	case key.Matches(k, keys.Down):
		r.cursor = (r.cursor + 1) % n
	case k.String() == "backspace" && typed != "":
		r.typed = typed[:len(typed)-1]
	case key.Matches(k, keys.Enter):
		return r.choose(r.entries()[r.cursor])
	case key.Matches(k, keys.Create):
		return r.choose(listEntry{act: actCreate})
	case key.Matches(k, keys.Direct):
		return r.choose(listEntry{act: actDirect})
	case key.Matches(k, keys.Reload):
		return emit(showRoomsMsg{})
	case key.Matches(k, keys.QuitList):
		return emit(quitMsg{})
	}
	return nil
}

func (r *roomsModel) choose(e listEntry) tea.Cmd {
	r.err, r.info = "", ""
	switch e.act {
	case actCreate:
		r.prompt = promptCreate
	case actDirect:
		r.prompt = promptDirect
	default:
		if e.room.Member {
			return emit(openMsg{room: e.room})
		}
		// Asked again, which is a no-op while my request is pending, so a
		// list a moment old (a request just withdrawn or denied) cannot
		// open a waiting screen for no request.
		r.busy = true
		r.info = "Asking to join " + e.room.Name + "…"
		if e.room.Requested {
			r.info = "Opening " + e.room.Name + "…"
		}
		return joinCmd(r.sh.ctx, r.sh.timeout, r.sh.svc, names.Room(e.room.Name))
	}
	r.input.Reset()
	r.input.CharLimit = names.MaxLen
	return r.input.Focus()
}

func (r *roomsModel) submitPrompt() tea.Cmd {
	v := strings.TrimSpace(r.input.Value())
	switch r.prompt {
	case promptCreate:
		name, err := names.ParseGroupRoom(v)
		if err != nil {
			r.err = err.Error()
			return nil
		}
		r.prompt, r.busy, r.err = promptNone, true, ""
		r.info = "Creating " + name.String() + "…"
		return createCmd(r.sh.ctx, r.sh.timeout, r.sh.svc, name)
	case promptDirect:
		u, err := names.ParseUser(strings.TrimPrefix(v, "@"))
		if err != nil {
			r.err = err.Error()
			return nil
		}
		if u.String() == r.sh.me {
			r.err = "That is you: a direct chat needs someone else."
			return nil
		}
		r.prompt, r.busy, r.err = promptNone, true, ""
		r.info = "Opening your direct chat with " + u.String() + "…"
		return directCmd(r.sh.ctx, r.sh.timeout, r.sh.svc, u)
	}
	return nil
}

func (r *roomsModel) View() string {
	st := r.sh.st
	head := []string{
		"",
		"  " + st.title.Render("Parley") + st.subtle.Render("  logged in as ") + st.me.Render(r.sh.me),
		"",
	}
	// The rows are laid out first and drawn only if they show: a list of
	// 10,000 rooms costs a screenful of rows to draw, not 10,000.
	type listRow struct {
		text  string
		entry int // >= 0: the row of this entry, drawn when it shows
	}
	var rows []listRow
	cursorRow := 0
	entries := r.entries()
	switch {
	case !r.loaded && r.progress > 0:
		rows = append(rows, listRow{text: fmt.Sprintf("  Loading the rooms: %d read…", r.progress), entry: -1})
	case !r.loaded:
		rows = append(rows, listRow{text: "  Loading the rooms…", entry: -1})
	default:
		rows = append(rows, listRow{text: "  " + roomsHeadline(len(r.rooms)), entry: -1})
		section := ""
		for i, e := range entries {
			if s := sectionOf(e); s != section {
				section = s
				rows = append(rows, listRow{entry: -1}, listRow{text: "  " + st.subtle.Render(s), entry: -1})
			}
			if i == r.cursor {
				cursorRow = len(rows)
			}
			rows = append(rows, listRow{entry: i})
		}
	}
	var foot []string
	switch r.prompt {
	case promptCreate:
		foot = append(foot, "  Name of the new room: "+r.input.View())
	case promptDirect:
		foot = append(foot, "  Chat with user: "+r.input.View())
	default:
		if r.typed != "" {
			foot = append(foot, "  Number: "+r.typed)
		}
	}
	// Messages and errors wrap: frame would cut them at the edge.
	if r.info != "" {
		for _, l := range wrap(sanitize(r.info), max(r.width-4, 20)) {
			foot = append(foot, "  "+st.info.Render(l))
		}
	}
	for _, e := range []string{r.listErr, r.err} {
		if e == "" {
			continue
		}
		for _, l := range wrap(sanitize(e), max(r.width-4, 20)) {
			foot = append(foot, "  "+st.err.Render(l))
		}
	}
	if r.rejected > 0 {
		foot = append(foot, "  "+st.warn.Render(plural(r.rejected, "record of the room list was", "records of the room list were")+" rejected (failed verification)"))
	}
	helpKeys := r.sh.keys.RoomsHelp()
	if r.prompt != promptNone {
		helpKeys = r.sh.keys.PromptHelp()
	}
	foot = append(foot, "", "  "+r.help.ShortHelpView(helpKeys))

	// Scroll the rows so the cursor stays in sight.
	room := max(r.height-len(head)-len(foot), 1)
	top := 0
	if cursorRow >= room {
		top = cursorRow - room + 1
	}
	shown := make([]string, 0, room)
	for _, row := range rows[top:min(len(rows), top+room)] {
		if row.entry >= 0 {
			row.text = r.row(row.entry, entries[row.entry])
		}
		shown = append(shown, row.text)
	}
	for len(shown) < room {
		shown = append(shown, "")
	}
	all := append(append(head, shown...), foot...)
	return frame(all, r.width, r.height)
}

func sectionOf(e listEntry) string {
	switch {
	case e.act != actRoom:
		return "New"
	case e.room.Kind == chat.Direct:
		return "Direct chats"
	case e.room.Member:
		return "Your rooms"
	}
	return "Rooms you may ask to join"
}

// row draws one entry: its number, name, and what is known of it.
func (r *roomsModel) row(i int, e listEntry) string {
	st := r.sh.st
	num := fmt.Sprintf("[%d]", i)
	var name, detail string
	switch e.act {
	case actCreate:
		name = "create a room"
	case actDirect:
		name = "start a direct chat"
	default:
		name = displayRoom(r.sh.me, e.room.Name)
		switch {
		case e.room.Kind == chat.Direct:
			detail = "direct"
		case e.room.Member:
			detail = plural(e.room.MemberCount, "member", "members")
		case e.room.Requested:
			detail = plural(e.room.MemberCount, "member", "members") + ", join requested"
		default:
			detail = plural(e.room.MemberCount, "member", "members") + ", ask to join"
		}
	}
	nameW := min(24, max(r.width/4, 8))
	line := fmt.Sprintf("%-5s %s  %s", num, padRight(ellipsis(name, nameW), nameW), padRight(detail, 22))
	if e.act == actRoom && e.room.Member {
		line += r.activityText(e.room.Name)
	}
	line = ellipsis(line, max(r.width-4, 10))
	if i == r.cursor {
		return "  " + st.selected.Render(line)
	}
	if a := r.sh.activity[e.room.Name]; e.act == actRoom && a != nil && a.mentions > 0 {
		return "  " + st.mention.Render(line)
	}
	return "  " + st.number.Render(num) + strings.TrimPrefix(line, num)
}

// activityText says how many messages are unread and what came last.
func (r *roomsModel) activityText(room string) string {
	a := r.sh.activity[room]
	if a == nil {
		return ""
	}
	s := padRight("", 11)
	switch {
	case a.unreadMore:
		s = padRight(fmt.Sprintf("%d+ unread", a.unread), 11)
	case a.unread > 0:
		s = padRight(fmt.Sprintf("%d unread", a.unread), 11)
	}
	// Mentions of me and direct messages stand apart from unread counts.
	switch {
	case a.mentions > 0:
		s += padRight(fmt.Sprintf("@%d", a.mentions), 5)
	case r.sh.muted[room]:
		s += "muted"
	default:
		s += "     "
	}
	if !a.last.Time.IsZero() {
		s += when(a.last.Time, time.Now())
		if a.last.Sender != "" && a.last.Rejected == "" {
			s += " " + sanitize(a.last.Sender) + ": " + sanitize(strings.ReplaceAll(preview(a.last), "\n", " "))
		}
	}
	return s
}

// preview is what the list shows of a room's newest message.
func preview(m chat.Message) string {
	switch m.Kind {
	case chat.KindTopic:
		return "set the topic: " + m.Topic
	case chat.KindEdit:
		return "(edited) " + m.Text
	case chat.KindDelete:
		return "deleted a message"
	case chat.KindReaction:
		if m.Unreact {
			return "took back " + m.Reaction
		}
		return "reacted " + m.Reaction
	case chat.KindUnknown:
		return "[a message of an unknown kind]"
	}
	return m.Text
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
