package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// entryKind says what a transcript entry shows.
type entryKind int

const (
	entryMessage entryKind = iota // a message, or a rejected record
	entryNotice                   // a change in the room
	entryRequest                  // a join request; text is the user
	entryWarning                  // tampering or a rejected record
	entryInfo                     // output of a command
	entryError                    // a failed command
)

// entry is one item of a conversation's transcript, with its lines as
// last drawn (for width).
type entry struct {
	kind entryKind
	msg  chat.Message // as it came: a message or an event on one
	text string
	at   time.Time

	// view is msg in its final state, hidden set for an event folded
	// into the message it names (see fold.go).
	view   chat.Message
	hidden bool

	width int
	key   string // renderKey when lines were drawn
	lines []string
	top   int // index of its first line in the transcript, as laid out
}

// clock is the time column of the transcript.
func clock(t time.Time) string { return t.Local().Format("15:04") }

// hanging lays body out after prefix (prefixW cells wide), continuation
// lines indented under the body.
func hanging(prefix string, prefixW int, body string, style lipgloss.Style, w int) []string {
	indent := min(prefixW, w/2)
	ls := wrap(body, w-indent)
	out := make([]string, len(ls))
	pad := strings.Repeat(" ", indent)
	for i, l := range ls {
		if i == 0 {
			out[i] = prefix + style.Render(l)
		} else {
			out[i] = pad + style.Render(l)
		}
	}
	return out
}

// render draws an entry for a transcript w cells wide.
func (c *conversation) render(e *entry, w int) []string {
	st := c.sh.st
	ts := st.time.Render(clock(e.at)) + " "
	switch e.kind {
	case entryMessage:
		return c.renderMessage(e, w)
	case entryNotice:
		return hanging(ts+st.notice.Render("* "), 8, sanitize(e.text), st.notice, w)
	case entryRequest:
		u := sanitize(e.text)
		text := fmt.Sprintf("%s wants to join, type !%s to approve (or /deny %s)", u, u, u)
		return hanging(ts+st.notice.Render("* "), 8, text, st.notice.Bold(true), w)
	case entryWarning:
		return hanging(ts+st.warn.Render("! "), 8, sanitize(e.text), st.warn, w)
	case entryError:
		return hanging("      "+st.err.Render("error: "), 13, sanitize(e.text), st.err, w)
	}
	var out []string
	for _, l := range strings.Split(sanitize(e.text), "\n") {
		out = append(out, hanging("      ", 6, l, st.info, w)...)
	}
	return out
}

// renderMessage draws "15:04 » alice: text": the time, a mark on my own
// messages ("?" on rejected records, "@" on those that mention me, "▶" on
// the one selected), the sender in their colour, the text wrapped under
// itself, in its final state: "(edited)", "message deleted", reaction
// counts, and for a reply the line it answers above it.
func (c *conversation) renderMessage(e *entry, w int) []string {
	st := c.sh.st
	m := e.view
	if m.ID == "" && m.Sender == "" && m.Rejected == "" {
		m = e.msg // not folded yet
	}
	sender := sanitize(m.Sender)
	if sender == "" {
		sender = "?"
	}
	ts := st.time.Render(clock(m.Time))
	mark := "  "
	switch {
	case m.Rejected != "":
		mark = st.err.Render("? ")
	case e.msg.ID != "" && e.msg.ID == c.sel:
		mark = st.selected.Render("▶") + " "
		ts = st.selected.Render(clock(m.Time))
	case m.Mentions(c.sh.me):
		mark = st.mention.Render("@ ")
	case m.Mine:
		mark = st.me.Render("» ")
	}
	if m.Rejected != "" {
		prefix := ts + " " + mark + st.sender(sender).Render(sender) + ": "
		return hanging(prefix, 6+2+lipgloss.Width(sender)+2, "[rejected record: "+sanitize(m.Rejected)+"]", st.err, w)
	}
	if m.Kind == chat.KindTopic {
		text := sender + " set the topic: " + sanitize(m.Topic)
		if m.Topic == "" {
			text = sender + " cleared the topic"
		}
		return hanging(ts+" "+st.notice.Render("* "), 8, text, st.notice, w)
	}
	prefix := ts + " " + mark + st.sender(sender).Render(sender) + ": "
	prefixW := 6 + 2 + lipgloss.Width(sender) + 2
	var out []string
	if m.Kind == chat.KindReply {
		out = append(out, c.quoteLine(m.Quote, m.ReplyTo, w))
	}
	var body string
	switch {
	case m.Kind == chat.KindUnknown:
		body = st.subtle.Render("[a message of a kind this version of Parley does not know]")
	case m.Deleted:
		body = st.pending.Render("message deleted")
	default:
		spans := mentionSpans(m.Text, c.sh.me)
		hi := st.mention
		if e.msg.ID == c.hiID {
			spans, hi = c.hiQ.Spans(m.Text), st.match
		}
		body = styled(m.Text, spans, lipgloss.NewStyle(), hi)
		if m.Edited {
			body += st.subtle.Render(" (edited)")
		}
		if r := reactionsText(m.Reactions); r != "" {
			body += "  " + st.reaction.Render(r)
		}
	}
	return append(out, hanging(prefix, prefixW, body, lipgloss.NewStyle(), w)...)
}

// quoteLine is the line above a reply: "      ↪ alice: what it answers".
func (c *conversation) quoteLine(q *chat.Quote, id string, w int) string {
	st := c.sh.st
	var text string
	switch {
	case q == nil:
		text = "↪ an earlier message"
	case q.Deleted:
		text = "↪ " + sanitize(q.Sender) + ": message deleted"
	default:
		text = "↪ " + sanitize(q.Sender) + ": " + oneLine(q.Text, max(w-12-lipgloss.Width(q.Sender), 8))
	}
	return "      " + st.subtle.Render(ellipsis(text, max(w-6, 1)))
}

// renderOutgoing draws a message of mine that is not in the room yet.
func (c *conversation) renderOutgoing(o *outgoing, w int) []string {
	st := c.sh.st
	var state string
	switch o.state {
	case sendWaiting, sendSending:
		state = "sending…"
	case sendQueued:
		state = "queued: sent once the cluster is back"
	default:
		state = "not sent"
	}
	prefix := st.time.Render(clock(o.typed)) + " " + st.me.Render("» ") + st.sender(c.sh.me).Render(c.sh.me) + ": "
	prefixW := 6 + 2 + lipgloss.Width(c.sh.me) + 2
	var out []string
	if o.replyTo != "" {
		out = append(out, "      "+st.subtle.Render(ellipsis("↪ "+o.quote, max(w-6, 1))))
	}
	return append(out, hanging(prefix, prefixW, sanitize(o.text)+"  ("+state+")", st.pending, w)...)
}

// daySeparator announces the day of the messages below it.
func (c *conversation) daySeparator(t time.Time, w int) string {
	label := t.Local().Format("Monday 2 January 2006")
	if y, m, d := time.Now().Date(); t.Local().Year() == y && t.Local().Month() == m && t.Local().Day() == d {
		label = "Today"
	}
	label = " " + label + " "
	side := max((w-lipgloss.Width(label))/2, 1)
	return c.sh.st.rule.Render(strings.Repeat("─", side) + label + strings.Repeat("─", side))
}

// outgoingKey identifies what the outgoing messages of the room look
// like, so layout knows when to draw them again.
func (c *conversation) outgoingKey() string {
	var b strings.Builder
	for _, o := range c.sh.outgoing[c.room.Name] {
		fmt.Fprintf(&b, "%d:%d,", o.local, o.state)
	}
	return b.String()
}

// layout builds the transcript's lines if anything changed. Entries keep
// their lines for a width, so only new entries are wrapped; scrolled up,
// the view stays on the same lines while new ones arrive below.
func (c *conversation) layout() {
	w := c.transcriptWidth()
	out := c.outgoingKey()
	if !c.dirty && !c.refold && w == c.builtW && out == c.builtOut {
		return
	}
	if c.refold {
		c.fold()
	}
	before := len(c.lines)
	lines := make([]string, 0, before+4)
	st := c.sh.st
	switch {
	case c.older:
		lines = append(lines, st.subtle.Render("  loading older messages…"))
	case c.more:
		lines = append(lines, st.subtle.Render("  ↑ older messages: pgup or the mouse wheel"))
	case c.loaded:
		lines = append(lines, st.subtle.Render("  This is the beginning of "+displayRoom(c.sh.me, c.room.Name)+"."))
	default:
		lines = append(lines, st.subtle.Render("  loading…"))
	}
	day := ""
	for _, e := range c.entries {
		if e.kind == entryMessage {
			if e.hidden {
				continue
			}
			if d := e.at.Local().Format(time.DateOnly); d != day {
				lines = append(lines, c.daySeparator(e.at, w))
				day = d
			}
		}
		if k := c.renderKey(e); e.width != w || e.lines == nil || e.key != k {
			e.lines, e.width, e.key = c.render(e, w), w, k
		}
		e.top = len(lines)
		lines = append(lines, e.lines...)
	}
	for _, o := range c.sh.outgoing[c.room.Name] {
		lines = append(lines, c.renderOutgoing(o, w)...)
	}
	if c.scroll > 0 && !c.prepend && w == c.builtW {
		c.scroll += max(len(lines)-before, 0)
	}
	c.lines, c.dirty, c.builtW, c.builtOut, c.prepend = lines, false, w, out, false
	c.scroll = min(c.scroll, max(len(c.lines)-c.transcriptHeight(), 0))
	if c.reveal {
		c.revealSelected()
	}
}

func (c *conversation) View() string {
	st := c.sh.st
	th := c.transcriptHeight()
	end := len(c.lines) - c.scroll
	start := max(end-th, 0)
	view := make([]string, 0, th)
	for i := 0; i < th-(end-start); i++ {
		view = append(view, "") // short transcripts sit at the bottom
	}
	view = append(view, c.lines[start:end]...)
	if c.showPanel() {
		tw := c.transcriptWidth()
		panel := c.panelLines(th)
		for i := range view {
			view[i] = padRight(ellipsis(view[i], tw), tw) + st.rule.Render(" │ ") + panel[i]
		}
	}
	if c.mode == modeResults {
		view = c.resultsLines(th)
	}
	rule := strings.Repeat("─", max(c.width, 1))
	switch banner := c.banner(); {
	case banner != "":
		rule = ellipsis(banner, c.width)
		rule += st.rule.Render(strings.Repeat("─", max(c.width-lipgloss.Width(rule), 0)))
	case c.newBelow > 0:
		rule = st.unread.Render(fmt.Sprintf("── %s below: ctrl+g ", plural(c.newBelow, "new message", "new messages")))
		rule += st.rule.Render(strings.Repeat("─", max(c.width-lipgloss.Width(rule), 0)))
	default:
		rule = st.rule.Render(rule)
	}
	all := []string{c.tabs()}
	if h := c.header(); h != "" {
		all = append(all, h)
	}
	all = append(all, view...)
	input := c.input.View()
	if c.confirm != nil {
		input = st.warn.Render(sanitize(c.confirm.prompt))
	}
	all = append(all, rule, input)
	return frame(all, c.width, c.height)
}

// panelLines draws the members panel: who is online, who asks to join.
func (c *conversation) panelLines(h int) []string {
	st := c.sh.st
	w := panelWidth - 3
	lines := []string{st.title.Render(ellipsis(fmt.Sprintf("Members %d/%d", c.onlineCount(), len(c.members)), w))}
	for _, m := range c.members {
		mark := "○ "
		if c.sh.online[m.Name] {
			mark = st.online.Render("● ")
		}
		name := m.Name
		if m.Me {
			name += " (you)"
		}
		lines = append(lines, mark+st.sender(m.Name).Render(ellipsis(name, w-2)))
	}
	if len(c.requests) > 0 {
		lines = append(lines, "", st.notice.Render("Asking to join"))
		for _, r := range c.requests {
			lines = append(lines, st.notice.Render(ellipsis("!"+r, w)))
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines[:h]
}
