package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// How parley read shows conversation events. By default a history is
// folded (chat.Fold): each message once, in its final state, with its
// reactions counted and replies quoting what they answer; --raw-events
// prints every record as it is in the log instead. Live events (--follow)
// are printed as they come, in words, against what was printed before.

const stampLayout = "2006-01-02 15:04:05"

// quoteWidth bounds the quoted line of a reply, in characters.
const quoteWidth = 60

// kindJSON adds to o the fields of m's kind: kind itself, and the target
// and content each kind needs; the final state after folding (edited,
// deleted, reactions, quote) when set.
func kindJSON(o map[string]any, m chat.Message) {
	k := m.Kind
	if k == "" {
		k = chat.KindText
	}
	o["kind"] = k
	if m.Rejected != "" {
		return
	}
	switch k {
	case chat.KindReply:
		o["reply_to"] = m.ReplyTo
	case chat.KindEdit:
		o["edits"] = m.Edits
	case chat.KindDelete:
		o["deletes"] = m.Deletes
		delete(o, "text")
	case chat.KindReaction:
		o["reacts_to"], o["reaction"] = m.ReactsTo, m.Reaction
		if m.Unreact {
			o["unreact"] = true
		}
		delete(o, "text")
	case chat.KindTopic:
		o["topic"] = m.Topic
		delete(o, "text")
	case chat.KindUnknown:
		delete(o, "text")
	}
	if m.Edited {
		o["edited"] = true
	}
	if m.Deleted {
		o["deleted"] = true
	}
	if len(m.Reactions) > 0 {
		o["reactions"] = m.Reactions
	}
	if m.Quote != nil {
		o["quote"] = m.Quote
	}
}

// reactionsText shows reaction counts as "[👍 2] [🎉 1]": the most given
// first, then by emoji.
func reactionsText(r map[string]int) string {
	if len(r) == 0 {
		return ""
	}
	es := make([]string, 0, len(r))
	for e := range r {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b string) int {
		return cmp.Or(cmp.Compare(r[b], r[a]), strings.Compare(a, b))
	})
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, " [%s %d]", e, r[e])
	}
	return b.String()
}

// firstLine is text's first line, cut at n characters.
func firstLine(text string, n int) string {
	line, _, more := strings.Cut(text, "\n")
	if r := []rune(line); len(r) > n {
		line, more = string(r[:n]), true
	}
	if more {
		line += "…"
	}
	return line
}

// quoteLine is the line above a reply: what it answers.
func quoteLine(m chat.Message) string {
	pad := strings.Repeat(" ", len(stampLayout)+2)
	q := m.Quote
	switch {
	case q == nil:
		return fmt.Sprintf("%s> (a message not shown: %s)", pad, m.ReplyTo)
	case q.Deleted:
		return fmt.Sprintf("%s> %s: message deleted", pad, q.Sender)
	}
	return fmt.Sprintf("%s> %s: %s", pad, q.Sender, firstLine(q.Text, quoteWidth))
}

// topicText words a topic change.
func topicText(m chat.Message) string {
	if m.Topic == "" {
		return m.Sender + " cleared the topic"
	}
	return m.Sender + " set the topic: " + m.Topic
}

// foldedLine is one message of a folded history, as read prints it
// (without its time).
func foldedLine(m chat.Message) string {
	switch m.Kind {
	case chat.KindTopic:
		return "* " + topicText(m)
	case chat.KindUnknown:
		return m.Sender + ": [a message of a kind this version of parley does not know]"
	}
	if m.Deleted {
		return m.Sender + ": message deleted"
	}
	s := m.Sender + ": " + m.Text
	if m.Edited {
		s += " (edited)"
	}
	return s + reactionsText(m.Reactions)
}

// rawLine is one record of the log as --raw-events prints it.
func rawLine(m chat.Message) string {
	switch m.Kind {
	case chat.KindReply:
		return fmt.Sprintf("%s: %s (reply to %s)", m.Sender, m.Text, m.ReplyTo)
	case chat.KindEdit:
		return fmt.Sprintf("%s: %s (edit of %s)", m.Sender, m.Text, m.Edits)
	case chat.KindDelete:
		return fmt.Sprintf("* %s deleted %s", m.Sender, m.Deletes)
	case chat.KindReaction:
		if m.Unreact {
			return fmt.Sprintf("* %s took back %s on %s", m.Sender, m.Reaction, m.ReactsTo)
		}
		return fmt.Sprintf("* %s reacted %s to %s", m.Sender, m.Reaction, m.ReactsTo)
	}
	return foldedLine(m)
}

// transcript prints a room's messages for parley read: folded (the
// default) or raw, as text or JSON. The history is given with add and
// printed by flush; live messages go through live, which words events
// against what was printed before.
type transcript struct {
	w      io.Writer
	me     string
	asJSON bool
	raw    bool
	follow bool // live events will follow: keep the chains
	// mark, if set, adds to each JSON object (a stale copy's marks).
	mark func(map[string]any) map[string]any

	pending []chat.Message // the history, until flush
	// chains holds, for each message printed, the message and the events
	// on it since, in order: folded, they give its state now.
	chains map[string][]chat.Message
}

func newTranscript(w io.Writer, me string, asJSON, raw, follow bool) *transcript {
	return &transcript{w: w, me: me, asJSON: asJSON, raw: raw, follow: follow, chains: make(map[string][]chat.Message)}
}

// add takes messages of the history, in order. Raw, they are printed at
// once; folded, at flush, once every event is known.
func (t *transcript) add(ms ...chat.Message) error {
	for _, m := range ms {
		if t.follow {
			t.track(m)
		}
		if t.raw {
			if err := t.print(m); err != nil {
				return err
			}
		}
	}
	if !t.raw {
		t.pending = append(t.pending, ms...)
	}
	return nil
}

// track records m in the chain of the message it names.
func (t *transcript) track(m chat.Message) (target string) {
	if m.Rejected != "" {
		return ""
	}
	switch m.Kind {
	case chat.KindText, chat.KindReply, "":
		t.chains[m.ID] = []chat.Message{m}
		return m.ID
	case chat.KindEdit:
		target = m.Edits
	case chat.KindDelete:
		target = m.Deletes
	case chat.KindReaction:
		target = m.ReactsTo
	default:
		return ""
	}
	if c, ok := t.chains[target]; ok {
		t.chains[target] = append(c, m)
		return target
	}
	return ""
}

// flush prints the folded history.
func (t *transcript) flush() error {
	folded := chat.Fold(t.pending)
	t.pending = nil
	for _, m := range folded {
		if err := t.print(m); err != nil {
			return err
		}
	}
	return nil
}

func (t *transcript) json(m chat.Message) map[string]any {
	o := messageJSON(m)
	if m.Mentions(t.me) {
		o["mentions_me"] = true
	}
	if t.mark != nil {
		o = t.mark(o)
	}
	return o
}

// print writes one message, folded or raw as the transcript is.
func (t *transcript) print(m chat.Message) error {
	if t.asJSON {
		return printJSON(t.w, t.json(m))
	}
	ts := m.Time.Local().Format(stampLayout)
	if m.Rejected != "" {
		sender := m.Sender
		if sender == "" {
			sender = "?"
		}
		_, err := fmt.Fprintf(t.w, "%s  [rejected record from %s: %s]\n", ts, sender, m.Rejected)
		return err
	}
	line := foldedLine(m)
	if t.raw {
		line = rawLine(m)
	} else if m.Kind == chat.KindReply {
		if _, err := fmt.Fprintln(t.w, quoteLine(m)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(t.w, "%s  %s\n", ts, line)
	return err
}

// live prints a message delivered while following. JSON and raw output
// print the record itself; text output says what an event did to the
// message it names, as that message stands now.
func (t *transcript) live(m chat.Message) error {
	target := t.track(m)
	switch {
	case t.asJSON || t.raw || m.Rejected != "":
		return t.print(m)
	case m.Kind != chat.KindEdit && m.Kind != chat.KindDelete && m.Kind != chat.KindReaction:
		return t.print(m)
	}
	ts := m.Time.Local().Format(stampLayout)
	line := rawLine(m) // its target was not printed (older than --limit)
	if target != "" {
		cur := chat.Fold(t.chains[target])[0]
		switch m.Kind {
		case chat.KindEdit:
			line = foldedLine(cur)
		case chat.KindDelete:
			line = fmt.Sprintf("* %s deleted their message of %s", m.Sender, cur.Time.Local().Format(stampLayout))
		case chat.KindReaction:
			verb := "reacted " + m.Reaction + " to"
			if m.Unreact {
				verb = "took back " + m.Reaction + " on"
			}
			line = fmt.Sprintf("* %s %s %s: %s%s", m.Sender, verb, cur.Sender, firstLine(cur.Text, quoteWidth), reactionsText(cur.Reactions))
		}
	}
	_, err := fmt.Fprintf(t.w, "%s  %s\n", ts, line)
	return err
}

// shareRead tells the room's other members, if the user shares it
// (--share-read), that the newest of msgs was seen. A failure only means
// they do not see it.
func (a *App) shareRead(cmd *cobra.Command, s *chat.Service, room names.Room, msgs []chat.Message) {
	if !a.cfg.ShareRead {
		return
	}
	var rev int64
	for _, m := range msgs {
		if m.Rejected == "" {
			rev = max(rev, m.Revision)
		}
	}
	if rev == 0 {
		return
	}
	ctx, cancel := a.op(cmd)
	defer cancel()
	if err := s.ShareRead(ctx, room, rev); err != nil {
		a.logger().Info("cannot share a read marker", "room", room, "err", err)
	}
}

// flushChunk prints what add held, folded, as flush does. A long history is
// folded a chunk at a time, to keep memory bounded: an event whose target
// came in an earlier chunk is printed as the record it is, never dropped.
func (t *transcript) flushChunk() error {
	here := make(map[string]bool, len(t.pending))
	for _, m := range t.pending {
		if m.Rejected == "" && (m.Kind == chat.KindText || m.Kind == chat.KindReply || m.Kind == "") {
			here[m.ID] = true
		}
	}
	var orphans []chat.Message
	for _, m := range t.pending {
		if m.Rejected != "" {
			continue
		}
		target := ""
		switch m.Kind {
		case chat.KindEdit:
			target = m.Edits
		case chat.KindDelete:
			target = m.Deletes
		case chat.KindReaction:
			target = m.ReactsTo
		default:
			continue
		}
		if !here[target] {
			orphans = append(orphans, m)
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	raw := t.raw
	t.raw = true
	defer func() { t.raw = raw }()
	for _, m := range orphans {
		if err := t.print(m); err != nil {
			return err
		}
	}
	return nil
}

// messageJSON is a message as --json prints it.
func messageJSON(m chat.Message) map[string]any {
	o := map[string]any{
		"room": m.Room, "id": m.ID, "sender": m.Sender, "time": m.Time.Format(time.RFC3339Nano),
		"revision": m.Revision, "epoch": m.Epoch, "seq": m.Seq,
	}
	if m.Pending {
		o["pending"] = true
	}
	if m.Rejected != "" {
		o["rejected"] = m.Rejected
	} else {
		o["text"] = m.Text
	}
	kindJSON(o, m)
	return o
}
