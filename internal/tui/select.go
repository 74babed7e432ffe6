package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// Selecting a message and acting on it. alt+↑ (or ctrl+↑) puts a cursor
// on the newest message; ↑ and ↓ move it; r replies to the message, e
// edits it and d deletes it (mine only; a deletion asks first), a reacts
// with one of a few common emoji or one typed; esc lets go.

// convMode is what the keys of a conversation do.
type convMode int

const (
	modeNormal  convMode = iota // typing messages
	modeSelect                  // a message is selected
	modeReply                   // the line typed answers the selected message
	modeEdit                    // the line typed replaces my selected message
	modeDelete                  // asks whether to delete my selected message
	modeReact                   // a digit picks a reaction, or one is typed
	modeResults                 // search results replace the transcript
)

// quickReactions are offered by number when reacting.
var quickReactions = []string{"👍", "❤️", "😂", "🎉", "😮", "😢"}

// selectable returns the messages a cursor may stop on, oldest first.
func (c *conversation) selectable() []*entry {
	var out []*entry
	for _, e := range c.entries {
		if e.kind != entryMessage || e.hidden || e.msg.Rejected != "" || e.msg.ID == "" || e.view.Deleted {
			continue
		}
		if k := e.view.Kind; k == chat.KindText || k == chat.KindReply || k == "" {
			out = append(out, e)
		}
	}
	return out
}

// selected returns the selected message in its final state.
func (c *conversation) selected() (*entry, bool) {
	if c.sel == "" {
		return nil, false
	}
	for _, e := range c.entries {
		if e.kind == entryMessage && e.msg.ID == c.sel && !e.hidden {
			return e, true
		}
	}
	return nil, false
}

// startSelect selects the newest message.
func (c *conversation) startSelect() tea.Cmd {
	if c.refold {
		c.fold()
	}
	es := c.selectable()
	if len(es) == 0 {
		return nil
	}
	c.setSelection(es[len(es)-1].msg.ID)
	return nil
}

func (c *conversation) setSelection(id string) {
	c.sel, c.mode, c.reveal, c.dirty = id, modeSelect, true, true
	if id == "" {
		c.mode = modeNormal
	}
	if id != c.hiID {
		c.hiID = ""
	}
}

// moveSelection moves the cursor d messages newer (positive) or older;
// past the oldest loaded it loads an older page, past the newest it lets
// go.
func (c *conversation) moveSelection(d int) tea.Cmd {
	es := c.selectable()
	i := -1
	for j, e := range es {
		if e.msg.ID == c.sel {
			i = j
		}
	}
	switch {
	case i < 0:
		return c.startSelect()
	case i+d < 0:
		return c.loadOlder()
	case i+d >= len(es):
		c.setSelection("")
		return nil
	}
	c.setSelection(es[i+d].msg.ID)
	return nil
}

// revealSelected scrolls so that the selected message is in view.
func (c *conversation) revealSelected() {
	c.reveal = false
	e, ok := c.selected()
	if !ok {
		return
	}
	th := c.transcriptHeight()
	top, bottom := e.top, e.top+len(e.lines)
	end := len(c.lines) - c.scroll
	start := end - th
	switch {
	case bottom > end:
		c.scroll = len(c.lines) - bottom
	case top < start:
		c.scroll = len(c.lines) - top - th
	}
	c.scroll = min(max(c.scroll, 0), max(len(c.lines)-th, 0))
	if c.scroll == 0 {
		c.newBelow = 0
	}
}

// modeKey handles the keys of the modes; done false passes the key on.
func (c *conversation) modeKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	keys := c.sh.keys
	switch c.mode {
	case modeResults:
		return c.resultsKey(k), true
	case modeDelete:
		switch {
		case key.Matches(k, keys.Yes):
			return c.deleteSelected(), true
		case key.Matches(k, keys.No):
			c.mode = modeSelect
		}
		return nil, true // nothing else while asked
	case modeReact:
		if c.input.Value() == "" && len(k.Text) == 1 && k.Text[0] >= '1' && int(k.Text[0]-'1') < len(quickReactions) {
			return c.react(quickReactions[k.Text[0]-'1']), true
		}
	case modeSelect:
		switch {
		case key.Matches(k, keys.SelPrev):
			return c.moveSelection(-1), true
		case key.Matches(k, keys.SelNext):
			return c.moveSelection(+1), true
		case key.Matches(k, keys.Reply):
			return c.beginReply(), true
		case key.Matches(k, keys.Edit):
			return c.beginEdit(), true
		case key.Matches(k, keys.Delete):
			return c.beginDelete(), true
		case key.Matches(k, keys.React):
			c.mode, c.saved = modeReact, c.input.Value()
			c.input.Reset()
			return nil, true
		case key.Matches(k, keys.Back):
			c.setSelection("")
			return nil, true
		case key.Matches(k, keys.Enter), key.Matches(k, keys.PageUp), key.Matches(k, keys.PageDown):
			return nil, false
		}
		// Anything else is typing: let go of the message.
		if k.Text != "" {
			c.setSelection("")
		}
	}
	return nil, false
}

// cancelMode goes back to typing, restoring a line an edit took over.
func (c *conversation) cancelMode() {
	switch c.mode {
	case modeEdit, modeReact:
		c.input.SetValue(c.saved)
		c.input.CursorEnd()
	}
	c.saved = ""
	c.setSelection("")
}

func (c *conversation) beginReply() tea.Cmd {
	if _, ok := c.selected(); !ok {
		return nil
	}
	c.mode = modeReply
	return nil
}

func (c *conversation) beginEdit() tea.Cmd {
	e, ok := c.selected()
	if !ok {
		return nil
	}
	if !e.view.Mine || e.view.Sender != c.sh.me {
		c.addError(errors.New("only your own messages can be edited"))
		return nil
	}
	if e.view.Deleted {
		c.addError(errors.New("that message is deleted"))
		return nil
	}
	c.mode, c.saved = modeEdit, c.input.Value()
	c.input.SetValue(e.view.Text)
	c.input.CursorEnd()
	return nil
}

func (c *conversation) beginDelete() tea.Cmd {
	e, ok := c.selected()
	if !ok {
		return nil
	}
	if e.view.Sender != c.sh.me {
		c.addError(errors.New("only your own messages can be deleted"))
		return nil
	}
	if e.view.Deleted {
		return nil
	}
	c.mode = modeDelete
	return nil
}

// submitMode takes the line typed in an edit or a reaction.
func (c *conversation) submitMode(line string) tea.Cmd {
	switch c.mode {
	case modeEdit:
		e, ok := c.selected()
		if !ok {
			c.cancelMode()
			return nil
		}
		id, room := e.msg.ID, c.room.Name
		if line == e.view.Text {
			c.cancelMode() // nothing changed
			return nil
		}
		c.input.SetValue(c.saved)
		c.saved = ""
		c.setSelection("")
		svc := c.sh.svc
		return actCmd(c.sh.ctx, c.sh.timeout, room, "edit", func(ctx context.Context) (chat.Message, error) { return svc.Edit(ctx, names.Room(room), id, line) })
	case modeReact:
		return c.react(strings.TrimSpace(line))
	}
	return nil
}

// sendReply sends the line typed as a reply to the selected message.
func (c *conversation) sendReply(text string) tea.Cmd {
	e, ok := c.selected()
	c.setSelection("")
	if !ok {
		return c.sh.enqueue(c.room.Name, text)
	}
	quote := sanitize(e.view.Sender) + ": " + oneLine(e.view.Text, 60)
	return c.sh.enqueueReply(c.room.Name, e.msg.ID, quote, text)
}

func (c *conversation) react(emoji string) tea.Cmd {
	e, ok := c.selected()
	if !ok {
		c.cancelMode()
		return nil
	}
	if err := chat.CheckReaction(emoji); err != nil {
		c.addError(err)
		return nil
	}
	c.input.SetValue(c.saved)
	c.saved = ""
	c.setSelection("")
	svc, room, id := c.sh.svc, c.room.Name, e.msg.ID
	return actCmd(c.sh.ctx, c.sh.timeout, room, "react", func(ctx context.Context) (chat.Message, error) { return svc.React(ctx, names.Room(room), id, emoji) })
}

func (c *conversation) deleteSelected() tea.Cmd {
	e, ok := c.selected()
	c.setSelection("")
	if !ok {
		return nil
	}
	svc, room, id := c.sh.svc, c.room.Name, e.msg.ID
	return actCmd(c.sh.ctx, c.sh.timeout, room, "delete", func(ctx context.Context) (chat.Message, error) { return svc.Delete(ctx, names.Room(room), id) })
}

// banner is what the rule above the input says in a mode ("" outside).
func (c *conversation) banner() string {
	st := c.sh.st
	e, ok := c.selected()
	var text string
	switch c.mode {
	case modeSelect:
		text = "── selected: ↑/↓ move · r reply · e edit · d delete · a react · esc done "
	case modeReply:
		if ok {
			text = "── replying to " + sanitize(e.view.Sender) + ": " + oneLine(e.view.Text, 50) + " (esc cancels) "
		}
	case modeEdit:
		text = "── editing your message: enter saves, esc cancels "
	case modeDelete:
		if ok {
			return st.err.Render("── delete your message \"" + oneLine(e.view.Text, 40) + "\"? y deletes, n keeps it ")
		}
	case modeReact:
		var opts []string
		for i, r := range quickReactions {
			opts = append(opts, fmt.Sprintf("%d %s", i+1, r))
		}
		text = "── react: " + strings.Join(opts, "  ") + " · or type one and enter · esc "
	case modeResults:
		text = "── ↑/↓ move · enter shows it in the transcript · esc closes "
	default:
		if c.searching {
			return st.subtle.Render("── searching… ")
		}
		if c.newBelow == 0 {
			if t := c.signalText(); t != "" {
				return st.subtle.Render(t)
			}
		}
		return ""
	}
	return st.banner.Render(text)
}

// actedMsg is the outcome of an edit, deletion, reaction or topic typed
// in a conversation.
type actedMsg struct {
	room string
	what string
	msg  chat.Message
	err  error
}

func actCmd(ctx context.Context, d time.Duration, room, what string, fn func(context.Context) (chat.Message, error)) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		m, err := fn(ctx)
		return actedMsg{room: room, what: what, msg: m, err: err}
	})
}

// onActed shows what an action wrote: the event joins the transcript at
// once (the room's feed brings it again; it shows once).
func (c *conversation) onActed(msg actedMsg) tea.Cmd {
	if msg.err != nil {
		c.addError(fmt.Errorf("%s: %w", msg.what, msg.err))
		return nil
	}
	if c.loaded && msg.msg.Revision > c.pageRev {
		c.addMessage(msg.msg)
	}
	return nil
}
