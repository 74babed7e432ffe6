package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

const (
	panelWidth = 24 // the members panel, its separator " │ " included
	panelMin   = 80 // narrower terminals hide the panel
	wheelStep  = 3  // lines per mouse wheel notch
)

// conversation is one room: its transcript (the newest page of history,
// older pages loaded as the user scrolls up, then live events), the
// members panel and the input line with history and completion.
type conversation struct {
	sh     *shared
	width  int
	height int

	room     chat.RoomInfo
	members  []chat.Member
	requests []string // users whose join request is pending

	entries []*entry
	ids     map[string]bool // ids of the messages shown
	loaded  bool
	early   []chat.Event // events that came before the history
	pageRev int64        // revision the history was read at
	cursor  string       // for the next older page
	more    bool         // older messages exist
	older   bool         // an older page is being read

	// The transcript drawn: lines for lines, built by layout.
	lines    []string
	dirty    bool
	builtW   int
	builtOut string // the outgoing messages the lines show
	prepend  bool   // the last change added lines above, not below
	scroll   int    // lines scrolled up from the newest
	newBelow int    // messages arrived while scrolled up

	input   textinput.Model
	confirm *confirmation // a command waiting for the user's yes
	histPos int           // index in sh.history; len means the draft
	draft   string        // what was typed before walking the history
	comp    *completion
	panel   bool

	// Folding (fold.go): entries show their message's final state.
	refold     bool          // the messages changed: fold again
	topic      *chat.Message // the newest topic change shown, if any
	foundTopic *chat.Message // the topic chat.Topic found further back
	askedTopic bool          // chat.Topic was asked once

	// Selecting and acting on a message (select.go).
	mode   convMode
	sel    string // id of the selected message, "" for none
	reveal bool   // scroll the selected message into view
	saved  string // the line typed before an edit took the input
	hiID   string // the message a search jumped to: its words highlighted
	hiQ    chat.Query

	// Search results (search.go).
	results   []chat.Message
	resQuery  chat.Query
	resSel    int
	searching bool
	jump      string // a message to select once an older page holds it

	// What the other members share, and my typing indicator (signals.go).
	signals     chat.Signals
	stopSignals context.CancelFunc
	typingAt    time.Time // when my indicator was last renewed; zero: none
}

// confirmation is a command that cannot be undone, asking first: y runs
// it, any other key cancels it.
type confirmation struct {
	prompt string
	run    func() tea.Cmd
}

func newConversation(sh *shared, r chat.RoomInfo) *conversation {
	c := &conversation{
		sh: sh, room: r, ids: make(map[string]bool), dirty: true, panel: true,
		input: sh.st.newInput("> "), histPos: len(sh.history),
	}
	c.input.Placeholder = "Message " + displayRoom(sh.me, r.Name) + "  (/help for commands)"
	c.input.CharLimit = chat.MaxMessageBytes
	return c
}

func (c *conversation) Focus() tea.Cmd { return c.input.Focus() }

func (c *conversation) SetSize(w, h int) {
	c.width, c.height = w, h
	c.input.SetWidth(max(w-3, 1))
	c.dirty = true
	c.layout()
}

func (c *conversation) showPanel() bool { return c.panel && c.width >= panelMin }

func (c *conversation) transcriptWidth() int {
	if c.showPanel() {
		return max(c.width-panelWidth, 1)
	}
	return max(c.width, 1)
}

// transcriptHeight leaves room for the tabs, the header (when there is a
// topic or a lifetime to show), the rule and the input line.
func (c *conversation) transcriptHeight() int {
	h := c.height - 3
	if c.header() != "" {
		h--
	}
	return max(h, 1)
}

func (c *conversation) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case historyMsg:
		return c.onHistory(msg)
	case olderMsg:
		return c.onOlder(msg)
	case membersMsg:
		if msg.err != nil {
			// Shown also when it was a refresh after a membership
			// change: the members line may be out of date.
			c.addError(fmt.Errorf("cannot read the members: %w", msg.err))
			return nil
		}
		c.setRoster(msg.members, msg.requests)
		if msg.show {
			c.printMembers()
		}
		return nil
	case resultMsg:
		if msg.err != nil {
			c.addError(msg.err)
		}
		return nil
	case verifyMsg:
		return c.onVerify(msg)
	case eventMsg:
		return c.onEvent(msg.ev)
	case actedMsg:
		return c.onActed(msg)
	case searchMsg:
		return c.onSearch(msg)
	case topicMsg:
		c.onTopic(msg)
		return nil
	case signalsMsg:
		return c.onSignals(msg)
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			return c.scrollBy(wheelStep)
		case tea.MouseWheelDown:
			return c.scrollBy(-wheelStep)
		}
		return nil
	case tea.KeyPressMsg:
		if c.confirm != nil {
			return c.answer(msg)
		}
		if cmd, done := c.key(msg); done {
			return cmd
		}
	}
	before := c.input.Value()
	var cmd tea.Cmd
	c.input, cmd = c.input.Update(msg)
	return tea.Batch(cmd, c.typed(before))
}

// ask puts a command on hold until the user confirms it.
func (c *conversation) ask(prompt string, run func() tea.Cmd) {
	c.confirm = &confirmation{prompt: prompt + " Press y to confirm, any other key to cancel.", run: run}
}

// answer takes the key that answers a confirmation.
func (c *conversation) answer(k tea.KeyPressMsg) tea.Cmd {
	conf := c.confirm
	c.confirm = nil
	if k.String() == "y" || k.String() == "Y" {
		return conf.run()
	}
	c.addInfo("Cancelled.")
	return nil
}

// key handles the conversation's own keys; done false passes the key on
// to the input line.
func (c *conversation) key(k tea.KeyPressMsg) (tea.Cmd, bool) {
	keys := c.sh.keys
	if !key.Matches(k, keys.Complete) {
		c.comp = nil
	}
	if cmd, done := c.modeKey(k); done {
		return cmd, true
	}
	page := max(c.transcriptHeight()-1, 1)
	switch {
	case key.Matches(k, keys.Enter):
		return c.submit(), true
	case key.Matches(k, keys.Complete):
		c.complete()
	case key.Matches(k, keys.PageUp):
		return c.scrollBy(page), true
	case key.Matches(k, keys.PageDown):
		return c.scrollBy(-page), true
	case key.Matches(k, keys.Bottom):
		c.scroll, c.newBelow = 0, 0
	case key.Matches(k, keys.Select):
		return c.startSelect(), true
	case key.Matches(k, keys.HistPrev):
		c.histMove(-1)
	case key.Matches(k, keys.HistNext):
		c.histMove(+1)
	case key.Matches(k, keys.NextRoom):
		return c.switchRoom(+1), true
	case key.Matches(k, keys.PrevRoom):
		return c.switchRoom(-1), true
	case key.Matches(k, keys.GotoRoom):
		return c.gotoRoom(int(k.Code - '0')), true
	case key.Matches(k, keys.Panel):
		c.panel = !c.panel
		c.dirty = true
	case key.Matches(k, keys.Back):
		if c.mode != modeNormal {
			c.cancelMode()
			return nil, true
		}
		if c.input.Value() != "" {
			c.input.Reset()
			return nil, true
		}
		return emit(showRoomsMsg{}), true
	default:
		return nil, false
	}
	return nil, true
}

// History and live events.

func (c *conversation) onHistory(msg historyMsg) tea.Cmd {
	c.loaded, c.dirty = true, true
	if msg.err != nil {
		c.addError(fmt.Errorf("cannot read the history: %w", msg.err))
	} else {
		p := msg.scr.Page
		c.pageRev, c.cursor, c.more = p.Revision, p.Cursor, p.More
		c.room.DisappearSeconds = msg.scr.Room.DisappearSeconds
		for _, r := range p.Rejected {
			c.entries = append(c.entries, &entry{kind: entryWarning, text: fmt.Sprintf("rejected %s: %s", r.What, r.Reason), at: time.Now()})
		}
		for _, m := range p.Messages {
			c.addMessage(m)
		}
		for _, w := range p.Warnings {
			c.addWarning(w)
		}
		c.setRoster(msg.scr.Members, msg.scr.Requests)
		for _, r := range msg.scr.Requests {
			c.addRequest(r.User, r.Time)
		}
	}
	early := c.early
	c.early = nil
	var cmds []tea.Cmd
	for _, ev := range early {
		cmds = append(cmds, c.onEvent(ev))
	}
	// A short first page leaves the screen half empty: read on.
	c.layout()
	if len(c.lines) < c.transcriptHeight() {
		cmds = append(cmds, c.loadOlder())
	}
	cmds = append(cmds, c.lookUpTopic())
	return tea.Batch(cmds...)
}

func (c *conversation) loadOlder() tea.Cmd {
	if !c.more || c.older || c.cursor == "" {
		return nil
	}
	c.older, c.dirty = true, true
	return olderCmd(c.sh.ctx, c.sh.timeout, c.sh.svc, c.room.Name, c.cursor, c.pageRev)
}

func (c *conversation) onOlder(msg olderMsg) tea.Cmd {
	c.older, c.dirty = false, true
	if msg.err != nil {
		c.addError(fmt.Errorf("cannot read older messages: %w", msg.err))
		return nil
	}
	p := msg.page
	c.cursor, c.more = p.Cursor, p.More
	var add []*entry
	for _, w := range p.Warnings {
		add = append(add, &entry{kind: entryWarning, text: w, at: time.Now()})
	}
	for _, m := range p.Messages {
		if !c.ids[m.ID] {
			c.ids[m.ID] = true
			add = append(add, &entry{kind: entryMessage, msg: m, at: m.Time})
		}
	}
	c.entries = append(add, c.entries...)
	c.prepend, c.refold = true, true
	return c.afterOlder()
}

func (c *conversation) onEvent(ev chat.Event) tea.Cmd {
	if !c.loaded {
		c.early = append(c.early, ev)
		return nil
	}
	switch ev.Kind {
	case chat.EventMessage:
		if ev.Message.Revision > c.pageRev {
			c.addMessage(ev.Message)
		}
	case chat.EventNotice:
		if ev.Notice.Kind == chat.NoticePolicy {
			c.room.DisappearSeconds = ev.Notice.Seconds
		}
		if ev.Notice.Kind == chat.NoticeRequest {
			c.addRequest(ev.Notice.User, time.Now())
		} else {
			c.add(&entry{kind: entryNotice, text: noticeText(ev.Notice), at: time.Now()})
		}
		return membersCmd(c.sh.ctx, c.sh.timeout, c.sh.svc, c.room.Name, false)
	case chat.EventWarning:
		c.addWarning(ev.Text)
	}
	return nil
}

func (c *conversation) setRoster(ms []chat.Member, reqs []chat.JoinRequest) {
	c.members = ms
	c.requests = c.requests[:0]
	for _, r := range reqs {
		c.requests = append(c.requests, r.User)
	}
	c.dirty = true
}

// add appends an entry at the bottom.
func (c *conversation) add(e *entry) {
	c.entries = append(c.entries, e)
	c.dirty = true
}

// addMessage shows a message once, in revision order.
func (c *conversation) addMessage(m chat.Message) {
	if m.ID != "" && c.ids[m.ID] {
		return
	}
	c.ids[m.ID] = true
	e := &entry{kind: entryMessage, msg: m, at: m.Time}
	i := len(c.entries)
	for i > 0 && c.entries[i-1].kind == entryMessage && c.entries[i-1].msg.Revision > m.Revision {
		i--
	}
	c.entries = slices.Insert(c.entries, i, e)
	c.dirty, c.refold = true, true
	if c.scroll > 0 && c.loaded && !m.Mine && news(m) {
		c.newBelow++
	}
}

// news reports whether m is something new to read (a message, a reply,
// a topic), not an event on another message.
func news(m chat.Message) bool {
	switch m.Kind {
	case chat.KindEdit, chat.KindDelete, chat.KindReaction:
		return m.Rejected != ""
	}
	return true
}

func (c *conversation) addRequest(user string, at time.Time) {
	if !slices.Contains(c.requests, user) {
		c.requests = append(c.requests, user)
	}
	for _, e := range c.entries {
		if e.kind == entryRequest && e.text == user {
			return // asked before and still waiting: said already
		}
	}
	c.add(&entry{kind: entryRequest, text: user, at: at})
}

func (c *conversation) addWarning(text string) {
	c.add(&entry{kind: entryWarning, text: text, at: time.Now()})
}

func (c *conversation) addInfo(text string) {
	c.add(&entry{kind: entryInfo, text: text, at: time.Now()})
}

func (c *conversation) addError(err error) {
	c.add(&entry{kind: entryError, text: err.Error(), at: time.Now()})
}

func (c *conversation) printMembers() {
	lines := []string{fmt.Sprintf("Members of %s (%d, %d online):", displayRoom(c.sh.me, c.room.Name), len(c.members), c.onlineCount())}
	nameW := 0
	for _, m := range c.members {
		nameW = max(nameW, lipgloss.Width(m.Name))
	}
	for _, m := range c.members {
		state := "offline"
		if c.sh.online[m.Name] {
			state = "online"
		}
		var tags []string
		if m.Me {
			tags = append(tags, "you")
		}
		if m.Creator {
			tags = append(tags, "creator")
		}
		if m.AddedBy != "" && m.AddedBy != m.Name {
			tags = append(tags, "approved by "+m.AddedBy)
		}
		if m.Verified {
			tags = append(tags, "verified")
		}
		line := fmt.Sprintf("  %s  %-7s", padRight(m.Name, nameW), state)
		if len(tags) > 0 {
			line += " " + strings.Join(tags, ", ")
		}
		lines = append(lines, line)
	}
	for _, r := range c.requests {
		lines = append(lines, fmt.Sprintf("  %s  asks to join: !%s lets them in", padRight(r, nameW), r))
	}
	c.addInfo(strings.Join(lines, "\n"))
}

func (c *conversation) onlineCount() int {
	n := 0
	for _, m := range c.members {
		if c.sh.online[m.Name] {
			n++
		}
	}
	return n
}

// Scrolling.

// scrollBy moves the view up (positive) or down by n lines, and reads an
// older page when the top comes into sight.
func (c *conversation) scrollBy(n int) tea.Cmd {
	top := max(len(c.lines)-c.transcriptHeight(), 0)
	c.scroll = min(max(c.scroll+n, 0), top)
	if c.scroll == 0 {
		c.newBelow = 0
	}
	if c.scroll >= top {
		return c.loadOlder()
	}
	return nil
}

// Input.

func (c *conversation) submit() tea.Cmd {
	line := c.input.Value()
	tl := parseLine(line)
	if tl.kind == lineEmpty {
		return nil
	}
	if c.mode == modeEdit || c.mode == modeReact {
		return c.submitMode(line)
	}
	c.remember(line)
	c.input.Reset()
	c.scroll, c.newBelow = 0, 0
	if stop := c.stopTyping(); stop != nil {
		return tea.Batch(stop, c.submitLine(tl))
	}
	return c.submitLine(tl)
}

// submitLine sends or runs a parsed line.
func (c *conversation) submitLine(tl typedLine) tea.Cmd {
	switch tl.kind {
	case lineInvalid:
		c.addError(tl.err)
	case lineMessage:
		if c.mode == modeReply {
			return c.sendReply(tl.text)
		}
		return c.sh.enqueue(c.room.Name, tl.text)
	case lineCommand:
		c.cancelMode()
		return c.run(tl)
	}
	return nil
}

// run carries out a /command (or !name).
func (c *conversation) run(tl typedLine) tea.Cmd {
	sh, svc, room := c.sh, c.sh.svc, c.room.Name
	user := func() (string, bool) {
		u, err := names.ParseUser(tl.arg)
		if err != nil {
			c.addError(err)
			return "", false
		}
		return u.String(), true
	}
	switch tl.cmd {
	case "approve":
		if u, ok := user(); ok {
			return actionCmd(sh.ctx, sh.timeout, room, func(ctx context.Context) error { return svc.Approve(ctx, names.Room(room), u) })
		}
	case "deny":
		if u, ok := user(); ok {
			return actionCmd(sh.ctx, sh.timeout, room, func(ctx context.Context) error { return svc.Deny(ctx, names.Room(room), u) })
		}
	case "remove":
		if u, ok := user(); ok {
			c.ask(fmt.Sprintf("Remove %s from %s?", u, displayRoom(sh.me, room)), func() tea.Cmd {
				return actionCmd(sh.ctx, sh.timeout, room, func(ctx context.Context) error { return svc.Remove(ctx, names.Room(room), u) })
			})
		}
	case "dm":
		if u, ok := user(); ok {
			if u == sh.me {
				c.addError(fmt.Errorf("that is you: a direct chat needs someone else"))
				return nil
			}
			return directCmd(sh.ctx, sh.timeout, svc, names.User(u)) // parsed by user()
		}
	case "leave":
		del := tl.arg == "--delete"
		if !del && tl.arg != "" {
			c.addError(fmt.Errorf("usage: /leave [--delete] (--delete: as the last member, close the room for good)"))
			return nil
		}
		prompt := fmt.Sprintf("Leave %s?", displayRoom(sh.me, room))
		if del {
			prompt = fmt.Sprintf("Leave %s and close it for good?", displayRoom(sh.me, room))
		}
		c.ask(prompt, func() tea.Cmd {
			c.addInfo("Leaving " + displayRoom(sh.me, room) + "…")
			return leaveCmd(sh.ctx, sh.timeout, svc, room, del)
		})
	case "join":
		// Typed input is parsed here, once; a bad name is reported as
		// the join's outcome.
		r, err := svc.ParseRoom(tl.arg)
		if err != nil {
			return emit(openMsg{err: err})
		}
		return joinCmd(sh.ctx, sh.timeout, svc, r)
	case "create":
		r, err := names.ParseGroupRoom(tl.arg)
		if err != nil {
			return emit(openMsg{err: err})
		}
		return createCmd(sh.ctx, sh.timeout, svc, r)
	case "members":
		return membersCmd(sh.ctx, sh.timeout, svc, room, true)
	case "verify":
		if u, ok := user(); ok {
			if u == sh.me {
				c.addError(fmt.Errorf("that is you: compare your key with someone else's"))
				return nil
			}
			return verifyCmd(sh.ctx, sh.timeout, svc, room, u)
		}
	case "topic":
		return c.topicCommand(tl.arg)
	case "disappear":
		return c.disappearCommand(tl.arg)
	case "search":
		return c.startSearch(tl.arg)
	case "mute", "unmute":
		return c.muteCommand(tl.cmd == "mute", tl.arg)
	case "rooms":
		return emit(showRoomsMsg{})
	case "help":
		c.addInfo(strings.Join(helpLines(sh.keys), "\n"))
	case "quit":
		return emit(quitMsg{})
	}
	return nil
}

// remember adds a line to the input history.
func (c *conversation) remember(line string) {
	h := c.sh.history
	if len(h) == 0 || h[len(h)-1] != line {
		c.sh.history = append(h, line)
	}
	c.histPos, c.draft = len(c.sh.history), ""
}

// histMove walks the input history: -1 older, +1 newer.
func (c *conversation) histMove(d int) {
	h := c.sh.history
	pos := c.histPos + d
	if pos < 0 || pos > len(h) {
		return
	}
	if c.histPos == len(h) {
		c.draft = c.input.Value()
	}
	c.histPos = pos
	if pos == len(h) {
		c.input.SetValue(c.draft)
	} else {
		c.input.SetValue(h[pos])
	}
	c.input.CursorEnd()
}
