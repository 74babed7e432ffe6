package chat

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Quote is the message a reply answers, as the reader has it.
type Quote struct {
	ID     string `json:"id"`
	Sender string `json:"sender"`
	Text   string `json:"text,omitempty"`
	// Deleted reports that the message answered was withdrawn since;
	// Text is then empty.
	Deleted bool `json:"deleted,omitempty"`
}

// ErrNoTarget means an edit, deletion, reaction or reply names a message
// that is not in the room.
var ErrNoTarget = errors.New("no such message in this room")

// ErrNotYours means an edit or deletion names someone else's message.
var ErrNotYours = errors.New("not your message")

// Reply sends text in answer to message id of room.
func (s *Service) Reply(ctx context.Context, room names.Room, id, text string) (Message, error) {
	return s.ReplyID(ctx, room, "", id, text)
}

// ReplyID is Reply with an id for the reply from NewMessageID ("" picks
// one), as SendID.
func (s *Service) ReplyID(ctx context.Context, room names.Room, replyID, id, text string) (Message, error) {
	return s.sendEvent(ctx, room, replyID, "reply", id, false, func(name string, t crypto.MessageID) (payload, error) {
		if err := checkText(text); err != nil {
			return payload{}, err
		}
		return payload{kind: KindReply, target: t, text: text}, nil
	})
}

// Edit replaces the text of my message id in room.
func (s *Service) Edit(ctx context.Context, room names.Room, id, text string) (Message, error) {
	return s.sendEvent(ctx, room, "", "edit", id, true, func(name string, t crypto.MessageID) (payload, error) {
		if err := checkText(text); err != nil {
			return payload{}, err
		}
		return payload{kind: KindEdit, target: t, text: text}, nil
	})
}

// Delete withdraws my message id in room: readers show "message
// deleted" in its place. (The envelope stays in etcd, as every record:
// its key is gone from every reader's view.)
func (s *Service) Delete(ctx context.Context, room names.Room, id string) (Message, error) {
	return s.sendEvent(ctx, room, "", "delete", id, true, func(name string, t crypto.MessageID) (payload, error) {
		return payload{kind: KindDelete, target: t}, nil
	})
}

// React puts emoji on message id of room, or takes it back if I had put
// it there (as every chat does when the same reaction is chosen again).
func (s *Service) React(ctx context.Context, room names.Room, id, emoji string) (Message, error) {
	if err := checkEmoji(emoji); err != nil {
		return Message{}, err
	}
	return s.sendEvent(ctx, room, "", "react to", id, false, func(name string, t crypto.MessageID) (payload, error) {
		add := true
		// Whether I reacted so before: in the newest messages (a
		// reaction older than that is taken for none).
		if p, err := s.History(ctx, names.Room(name), 2000); err == nil {
			for _, m := range Fold(p.Messages) {
				if m.ID == t.String() {
					add = !m.reactedBy(s.me.Name(), emoji)
				}
			}
		}
		return payload{kind: KindReaction, target: t, add: add, text: emoji}, nil
	})
}

// SetTopic changes the room's topic (empty: no topic).
func (s *Service) SetTopic(ctx context.Context, room names.Room, topic string) (Message, error) {
	name := string(room)
	if err := CheckTopic(topic); err != nil {
		return Message{}, err
	}
	return s.sendPayload(ctx, name, "", payload{kind: KindTopic, text: topic})
}

// sendEvent checks that target is a genuine message of the room (and,
// if mine is set, mine) before anything is written, then sends the
// payload build makes, under eventID ("" picks one).
func (s *Service) sendEvent(ctx context.Context, room names.Room, eventID, what, target string, mine bool, build func(string, crypto.MessageID) (payload, error)) (Message, error) {
	name := string(room)
	t, err := crypto.ParseMessageID(target)
	if err != nil {
		return Message{}, fmt.Errorf("%s %s in %q: %w: bad id", what, target, name, ErrNoTarget)
	}
	// A non-member cannot read the target: say so, not that it is missing.
	if v, err := s.cachedView(ctx, name); err != nil || !v.isMember(s.me.Name()) {
		if _, err := s.memberView(ctx, name); err != nil {
			return Message{}, fmt.Errorf("%s %s in %q: %w", what, target, name, err)
		}
	}
	tm, err := s.message(ctx, name, target)
	if err != nil {
		return Message{}, fmt.Errorf("%s %s in %q: %w", what, target, name, err)
	}
	if mine && tm.Sender != s.me.Name() {
		return Message{}, fmt.Errorf("%s %s in %q: %w (it is %s's)", what, target, name, ErrNotYours, tm.Sender)
	}
	if tm.Kind != KindText && tm.Kind != KindReply {
		return Message{}, fmt.Errorf("%s %s in %q: %w: it is a %s, not a message", what, target, name, ErrNoTarget, tm.Kind)
	}
	p, err := build(name, t)
	if err != nil {
		return Message{}, fmt.Errorf("%s %s in %q: %w", what, target, name, err)
	}
	return s.sendPayload(ctx, name, eventID, p)
}

// message reads and verifies one message of a room.
func (s *Service) message(ctx context.Context, name, id string) (Message, error) {
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return Message{}, err
	}
	raw, err := s.st.Message(ctx, names.Room(name), id)
	if errors.Is(err, store.ErrNotFound) {
		return Message{}, ErrNoTarget
	}
	if err != nil {
		return Message{}, err
	}
	ms, err := s.verifyAll(ctx, v, []store.RawMessage{raw})
	if err == nil && len(ms) == 1 && ms[0].needsView {
		if v, err = s.loadView(ctx, name); err == nil {
			ms, err = s.verifyAll(ctx, v, []store.RawMessage{raw})
		}
	}
	if err != nil {
		return Message{}, err
	}
	if ms[0].Rejected != "" {
		return Message{}, fmt.Errorf("%w: the record there is rejected: %s", ErrNoTarget, ms[0].Rejected)
	}
	return ms[0], nil
}

// checkEvents rejects, in msgs (one room's, in order), the edits and
// deletions of someone else's message and the events whose target is not
// in the room. Targets outside msgs are judged only if complete says msgs
// are the whole history; otherwise such events are left as they are.
func checkEvents(msgs []Message, complete bool) {
	byID := make(map[string]int, len(msgs))
	for i, m := range msgs {
		if m.Rejected == "" {
			byID[m.ID] = i
		}
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Rejected != "" {
			continue
		}
		target := m.target()
		if target == "" {
			continue
		}
		j, ok := byID[target]
		if !ok {
			if complete {
				m.Rejected = fmt.Sprintf("its %s names message %s, which is not in this room", m.Kind, target)
			}
			continue
		}
		t := msgs[j]
		switch {
		case t.Kind != KindText && t.Kind != KindReply:
			m.Rejected = fmt.Sprintf("its %s names a %s, not a message", m.Kind, t.Kind)
		case (m.Kind == KindEdit || m.Kind == KindDelete) && t.Sender != m.Sender:
			m.Rejected = fmt.Sprintf("%s's %s of a message of %s", m.Sender, m.Kind, t.Sender)
		}
	}
}

// target is the id of the message an event or a reply names ("" for
// other kinds).
func (m *Message) target() string {
	switch m.Kind {
	case KindReply:
		return m.ReplyTo
	case KindEdit:
		return m.Edits
	case KindDelete:
		return m.Deletes
	case KindReaction:
		return m.ReactsTo
	}
	return ""
}

// reactedBy reports whether user's reaction emoji is on m.
func (m *Message) reactedBy(user, emoji string) bool { return m.reactors[emoji][user] }

// Fold returns a history's final state: messages (text and replies) with
// their edits, deletions and reactions applied and replies quoting what
// they answer, as it finally stands; topic changes and events of unknown
// kinds stay in place; edits, deletions and reactions themselves do not.
// Rejected records stay as they are. msgs must be in order, as a Page
// holds them.
func Fold(msgs []Message) []Message {
	out := make([]Message, 0, len(msgs))
	at := make(map[string]int, len(msgs))
	for _, m := range msgs {
		if m.Rejected != "" {
			out = append(out, m)
			continue
		}
		switch m.Kind {
		case KindEdit, KindDelete, KindReaction:
			i, ok := at[m.target()]
			if !ok {
				continue // its target is not in view
			}
			t := &out[i]
			switch m.Kind {
			case KindEdit:
				if !t.Deleted && t.Sender == m.Sender {
					t.Text, t.Edited = m.Text, true
				}
			case KindDelete:
				if t.Sender == m.Sender {
					t.Text, t.Deleted, t.Edited, t.Reactions, t.reactors = "", true, false, nil, nil
				}
			case KindReaction:
				if t.Deleted {
					continue
				}
				if t.reactors == nil {
					t.reactors = make(map[string]map[string]bool)
				}
				if t.reactors[m.Reaction] == nil {
					t.reactors[m.Reaction] = make(map[string]bool)
				}
				if m.Unreact {
					delete(t.reactors[m.Reaction], m.Sender)
				} else {
					t.reactors[m.Reaction][m.Sender] = true
				}
				t.Reactions = make(map[string]int, len(t.reactors))
				for e, who := range t.reactors {
					if len(who) > 0 {
						t.Reactions[e] = len(who)
					}
				}
				if len(t.Reactions) == 0 {
					t.Reactions = nil
				}
			}
			continue
		case KindReply:
			if i, ok := at[m.ReplyTo]; ok {
				q := out[i]
				m.Quote = &Quote{ID: q.ID, Sender: q.Sender, Text: q.Text}
			}
		}
		m.reactors = nil
		at[m.ID] = len(out)
		out = append(out, m)
	}
	for i := range out {
		if out[i].reactors != nil {
			out[i].reactors = maps.Clone(out[i].reactors)
		}
		// A reply quotes what it answers as it finally stands: edited
		// later, the new text; deleted, no text.
		if q := out[i].Quote; q != nil && out[i].Kind == KindReply {
			if j, ok := at[q.ID]; ok {
				t := out[j]
				out[i].Quote = &Quote{ID: t.ID, Sender: t.Sender, Text: t.Text, Deleted: t.Deleted}
			}
		}
	}
	return out
}

// checkLive judges an event delivered live against its target, read from
// etcd: the same rules as checkEvents.
func (s *Service) checkLive(ctx context.Context, m *Message) {
	target := m.target()
	if target == "" {
		return
	}
	t, err := s.message(ctx, m.Room, target)
	if err != nil {
		if errors.Is(err, ErrNoTarget) {
			m.Rejected = fmt.Sprintf("its %s names message %s, which is not in this room", m.Kind, target)
		}
		return
	}
	msgs := []Message{t, *m}
	checkEvents(msgs, true)
	if msgs[1].Rejected != "" {
		m.Rejected = msgs[1].Rejected
	}
	if m.Kind == KindReply && m.Rejected == "" {
		m.Quote = &Quote{ID: t.ID, Sender: t.Sender, Text: t.Text}
	}
}
