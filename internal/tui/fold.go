package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// The transcript keeps every record of the room's log it was given, in
// order, and shows each message in its final state: chat.Fold over them
// applies edits, deletions and reactions to the messages they name, which
// is how an edit or a reaction arriving live updates its message in place
// and how one in an older page finds its message once that page loads.
// The events themselves are not drawn.

// fold brings the view of every message entry up to date.
func (c *conversation) fold() {
	msgs := make([]chat.Message, 0, len(c.entries))
	for _, e := range c.entries {
		if e.kind == entryMessage {
			msgs = append(msgs, e.msg)
		}
	}
	byID := make(map[string]chat.Message, len(msgs))
	for _, f := range chat.Fold(msgs) {
		if f.Rejected == "" {
			byID[f.ID] = f
		}
	}
	c.topic = nil
	for _, e := range c.entries {
		if e.kind != entryMessage {
			continue
		}
		if e.msg.Rejected != "" {
			e.view, e.hidden = e.msg, false
			continue
		}
		f, ok := byID[e.msg.ID]
		e.view, e.hidden = f, !ok
		if ok && f.Kind == chat.KindTopic {
			t := f
			c.topic = &t
		}
	}
	c.refold = false
}

// renderKey is what an entry's drawing depends on besides its width:
// when it changes, the entry is drawn again.
func (c *conversation) renderKey(e *entry) string {
	if e.kind != entryMessage {
		return ""
	}
	v := e.view
	var b strings.Builder
	fmt.Fprintf(&b, "%t|%t|%t|%s|", v.Edited, v.Deleted, e.msg.ID == c.sel, v.Text)
	fmt.Fprintf(&b, "%s|", reactionsText(v.Reactions))
	if q := v.Quote; q != nil {
		fmt.Fprintf(&b, "%s|%t|%s|", q.Sender, q.Deleted, q.Text)
	}
	if e.msg.ID == c.hiID {
		b.WriteString(strings.Join(c.hiQ.Words(), " "))
	}
	return b.String()
}

// reactionsText shows reaction counts as "[👍 2] [🎉 1]", the most given
// first.
func reactionsText(r map[string]int) string {
	if len(r) == 0 {
		return ""
	}
	type count struct {
		emoji string
		n     int
	}
	cs := make([]count, 0, len(r))
	for e, n := range r {
		cs = append(cs, count{e, n})
	}
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && (cs[j].n > cs[j-1].n || cs[j].n == cs[j-1].n && cs[j].emoji < cs[j-1].emoji); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("[%s %d]", sanitize(c.emoji), c.n)
	}
	return strings.Join(parts, " ")
}

// styled draws text (sanitised) in base, with the byte ranges of spans in
// hi. Each piece is drawn on its own, a line at a time, so the result
// wraps like plain text.
func styled(text string, spans [][2]int, base, hi lipgloss.Style) string {
	var b strings.Builder
	piece := func(s string, st lipgloss.Style) {
		for i, l := range strings.Split(sanitize(s), "\n") {
			if i > 0 {
				b.WriteByte('\n')
			}
			if l != "" {
				b.WriteString(st.Render(l))
			}
		}
	}
	at := 0
	for _, sp := range spans {
		if sp[0] < at || sp[1] > len(text) {
			continue
		}
		piece(text[at:sp[0]], base)
		piece(text[sp[0]:sp[1]], hi)
		at = sp[1]
	}
	piece(text[at:], base)
	return b.String()
}

// mentionSpans are where text mentions me.
func mentionSpans(text, me string) [][2]int {
	var out [][2]int
	for _, m := range chat.MentionsIn(text) {
		if m.User == me {
			out = append(out, [2]int{m.Start, m.End})
		}
	}
	return out
}

// oneLine is text's first line, cut at n cells.
func oneLine(text string, n int) string {
	line, _, more := strings.Cut(text, "\n")
	line = sanitize(line)
	if more {
		line += " …"
	}
	return ellipsis(line, n)
}

// Topics.

type topicMsg struct {
	room  string
	topic chat.Message
	found bool
	err   error
}

// topicCmd finds the room's topic further back than the pages loaded.
func topicCmd(ctx context.Context, svc *chat.Service, room string) tea.Cmd {
	return call(ctx, searchTimeout, func(ctx context.Context) tea.Msg {
		t, found, err := svc.Topic(ctx, names.Room(room))
		return topicMsg{room: room, topic: t, found: found, err: err}
	})
}

// lookUpTopic asks for the topic once if the pages loaded hold none and
// older ones exist.
func (c *conversation) lookUpTopic() tea.Cmd {
	if c.refold {
		c.fold()
	}
	if c.topic != nil || !c.more || c.askedTopic || c.sh.svc == nil {
		return nil
	}
	c.askedTopic = true
	return topicCmd(c.sh.ctx, c.sh.svc, c.room.Name)
}

func (c *conversation) onTopic(msg topicMsg) {
	if msg.err != nil {
		c.addError(fmt.Errorf("cannot find the topic: %w", msg.err))
		return
	}
	if msg.found {
		t := msg.topic
		c.foundTopic, c.dirty = &t, true
	}
}

// currentTopic is the topic the header shows ("" for none).
func (c *conversation) currentTopic() (topic, by string) {
	t := c.topic
	if t == nil {
		t = c.foundTopic
	}
	if t == nil {
		return "", ""
	}
	return t.Topic, t.Sender
}

// header is the line under the tabs: the topic and how long messages
// live; empty when there is neither.
func (c *conversation) header() string {
	st := c.sh.st
	var parts []string
	if topic, by := c.currentTopic(); topic != "" {
		parts = append(parts, st.title.Render("topic: ")+sanitize(topic)+st.subtle.Render(" (set by "+sanitize(by)+")"))
	}
	if d := c.room.DisappearSeconds; d > 0 {
		parts = append(parts, st.notice.Render("messages disappear after "+lifetimeWords(secondsDuration(d))))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, st.subtle.Render("  ·  "))
}
