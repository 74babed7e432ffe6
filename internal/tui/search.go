package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// /search WORDS reads the room's whole history in memory (chat.Search:
// verified, decrypted and folded; nothing reaches the disk) and lists the
// messages holding every word, newest first, the words highlighted, in
// place of the transcript. Enter shows the message chosen in the
// transcript, selected, loading the older pages it needs.

// searchTimeout bounds a search or a topic lookup, which read a whole
// history.
const searchTimeout = 2 * time.Minute

type searchMsg struct {
	room  string
	query chat.Query
	res   chat.SearchResult
	err   error
}

func searchCmd(ctx context.Context, svc *chat.Service, room string, q chat.Query) tea.Cmd {
	return call(ctx, searchTimeout, func(ctx context.Context) tea.Msg {
		res, err := svc.Search(ctx, names.Room(room), q)
		return searchMsg{room: room, query: q, res: res, err: err}
	})
}

func (c *conversation) startSearch(words string) tea.Cmd {
	q, err := chat.ParseQuery(words)
	if err != nil {
		c.addError(err)
		return nil
	}
	if c.searching {
		c.addError(errors.New("a search is under way"))
		return nil
	}
	c.searching = true
	return searchCmd(c.sh.ctx, c.sh.svc, c.room.Name, q)
}

func (c *conversation) onSearch(msg searchMsg) tea.Cmd {
	c.searching = false
	if msg.err != nil {
		c.addError(fmt.Errorf("search: %w", msg.err))
		return nil
	}
	words := strings.Join(msg.query.Words(), " ")
	if len(msg.res.Matches) == 0 {
		c.addInfo(fmt.Sprintf("No message of %s holds %q (%s searched).", displayRoom(c.sh.me, c.room.Name), words, plural(msg.res.Searched, "message", "messages")))
		return nil
	}
	c.setSelection("")
	c.results, c.resQuery, c.resSel = msg.res.Matches, msg.query, 0
	c.mode = modeResults
	return nil
}

func (c *conversation) resultsKey(k tea.KeyPressMsg) tea.Cmd {
	keys := c.sh.keys
	switch {
	case key.Matches(k, keys.SelPrev), key.Matches(k, keys.Select):
		c.resSel = max(c.resSel-1, 0)
	case key.Matches(k, keys.SelNext), key.Matches(k, keys.SelectNext):
		c.resSel = min(c.resSel+1, len(c.results)-1)
	case key.Matches(k, keys.PageUp):
		c.resSel = max(c.resSel-c.transcriptHeight()+2, 0)
	case key.Matches(k, keys.PageDown):
		c.resSel = min(c.resSel+c.transcriptHeight()-2, len(c.results)-1)
	case key.Matches(k, keys.Enter):
		return c.jumpTo(c.results[c.resSel].ID)
	case key.Matches(k, keys.Back):
		c.results, c.mode = nil, modeNormal
	}
	return nil
}

// jumpTo closes the results and selects message id in the transcript,
// reading the older pages first if it is not loaded.
func (c *conversation) jumpTo(id string) tea.Cmd {
	c.hiQ = c.resQuery
	c.results, c.mode = nil, modeNormal
	if c.ids[id] {
		c.setSelection(id)
		c.hiID = id
		return nil
	}
	c.jump = id
	if c.older || !c.more {
		return nil // the page on its way holds it, or nothing does
	}
	c.older, c.dirty = true, true
	return olderCmdLimit(c.sh.ctx, c.sh.svc, c.room.Name, c.cursor, c.pageRev, 0)
}

// afterOlder selects, once an older page is in, the message a search
// jumped to.
func (c *conversation) afterOlder() tea.Cmd {
	if c.jump == "" {
		return nil
	}
	id := c.jump
	if c.ids[id] {
		c.jump = ""
		c.fold()
		c.setSelection(id)
		c.hiID = id
		return nil
	}
	if !c.more {
		c.jump = ""
		c.addError(errors.New("the message found is no longer in the room"))
		return nil
	}
	c.older = true
	return olderCmdLimit(c.sh.ctx, c.sh.svc, c.room.Name, c.cursor, c.pageRev, 0)
}

// resultsLines draws the search results in the transcript's place.
func (c *conversation) resultsLines(h int) []string {
	st := c.sh.st
	w := max(c.width, 1) // the list takes the members panel's place too
	words := strings.Join(c.resQuery.Words(), " ")
	head := fmt.Sprintf("  %s holding %q in %s, newest first:", plural(len(c.results), "message", "messages"), words, displayRoom(c.sh.me, c.room.Name))
	lines := []string{st.title.Render(ellipsis(head, w))}
	rows := max(h-1, 1)
	top := 0
	if c.resSel >= rows {
		top = c.resSel - rows + 1
	}
	for i := top; i < len(c.results) && len(lines) <= rows; i++ {
		lines = append(lines, c.resultLine(c.results[i], i == c.resSel, w))
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines[:h]
}

// resultLine is one message found: when, who, and the words in their
// context.
func (c *conversation) resultLine(m chat.Message, selected bool, w int) string {
	st := c.sh.st
	text := m.Text
	if m.Kind == chat.KindTopic {
		text = m.Topic
	}
	text = strings.ReplaceAll(text, "\n", " ")
	spans := c.resQuery.Spans(text)
	// Start a little before the first word found, so it is in sight.
	if len(spans) > 0 && spans[0][0] > 30 {
		cut := spans[0][0] - 20
		for cut > 0 && !isRuneStart(text[cut]) {
			cut--
		}
		text = "…" + text[cut:]
		shift := cut - len("…")
		for i := range spans {
			spans[i][0] -= shift
			spans[i][1] -= shift
		}
	}
	prefix := when(m.Time, time.Now()) + " " + st.sender(m.Sender).Render(sanitize(m.Sender)) + ": "
	if m.Kind == chat.KindTopic {
		prefix = when(m.Time, time.Now()) + " * " + sanitize(m.Sender) + " set the topic: "
	}
	line := prefix + styled(text, spans, lipgloss.NewStyle(), st.match)
	if m.Edited {
		line += st.subtle.Render(" (edited)")
	}
	mark := "  "
	if selected {
		mark = st.selected.Render("▶") + " "
	}
	return ellipsis(mark+line, w)
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// olderCmdLimit is olderCmd for up to limit messages (0: all older ones).
func olderCmdLimit(ctx context.Context, svc *chat.Service, room, cursor string, rev int64, limit int) tea.Cmd {
	return call(ctx, searchTimeout, func(ctx context.Context) tea.Msg {
		page, err := svc.Older(ctx, names.Room(room), cursor, rev, limit)
		return olderMsg{room: room, page: page, err: err}
	})
}
