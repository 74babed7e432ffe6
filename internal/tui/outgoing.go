package tui

import (
	"fmt"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// outgoing is a message typed by the user that is not in the room yet.
type outgoing struct {
	local   int
	room    string
	text    string
	id      string // chosen when typed (chat.NewMessageID): its echo is known by it
	replyTo string // a reply: the message it answers
	quote   string // a reply: how the message it answers was shown
	state   sendState
	typed   time.Time // when it was typed (queued, for an earlier run's)
}

type sendState int

const (
	sendWaiting sendState = iota // behind another message of the room
	sendSending                  // being sent
	sendQueued                   // in the outbox until the cluster is back
	sendFailed                   // refused for good (Rejected of a queued message)
)

// enqueue shows a typed message as pending and sends it once the room's
// earlier messages are out, so a room's messages keep their typing order.
func (sh *shared) enqueue(room, text string) tea.Cmd {
	return sh.enqueueReply(room, "", "", text)
}

// enqueueReply is enqueue for a reply to message replyTo, shown under
// quote until it is in the room.
func (sh *shared) enqueueReply(room, replyTo, quote, text string) tea.Cmd {
	sh.nextLocal++
	o := &outgoing{
		local: sh.nextLocal, room: room, text: text, id: chat.NewMessageID(),
		replyTo: replyTo, quote: quote, state: sendWaiting, typed: time.Now(),
	}
	sh.outgoing[room] = append(sh.outgoing[room], o)
	return sh.sendNext(room)
}

func (sh *shared) sendNext(room string) tea.Cmd {
	if sh.inflight[room] != 0 {
		return nil
	}
	for _, o := range sh.outgoing[room] {
		if o.state == sendWaiting {
			o.state = sendSending
			sh.inflight[room] = o.local
			return sendCmd(sh.ctx, sh.timeout, sh.svc, o)
		}
	}
	return nil
}

func (m *model) onSent(msg sentMsg) tea.Cmd {
	if m.sh.inflight[msg.room] == msg.local {
		delete(m.sh.inflight, msg.room)
	}
	i := slices.IndexFunc(m.sh.outgoing[msg.room], func(o *outgoing) bool { return o.local == msg.local })
	switch {
	case msg.err != nil:
		if i >= 0 {
			text := m.sh.outgoing[msg.room][i].text
			m.removeOutgoing(msg.room, i)
			if m.conv != nil && m.conv.room.Name == msg.room {
				m.conv.addError(fmt.Errorf("not sent: %q: %w", ellipsis(text, 40), msg.err))
			}
		}
	case msg.msg.Pending:
		if i >= 0 {
			o := m.sh.outgoing[msg.room][i]
			o.state, o.id = sendQueued, msg.msg.ID
		}
	default:
		m.resolveOutgoing(msg.room, msg.msg)
	}
	return m.sh.sendNext(msg.room)
}

// onQueued shows the messages an earlier run left in the outbox as
// pending, then starts delivering the outbox; in that order, so that no
// message is delivered before it is listed.
func (m *model) onQueued(msg queuedMsg) tea.Cmd {
	for _, q := range msg.msgs {
		st := sendQueued
		if q.Rejected != "" {
			st = sendFailed
		}
		m.sh.nextLocal++
		m.sh.outgoing[q.Room] = append(m.sh.outgoing[q.Room], &outgoing{
			local: m.sh.nextLocal, room: q.Room, text: q.Text, id: q.ID, state: st, typed: q.Time,
		})
	}
	if m.outboxDone != nil {
		return nil
	}
	delivered := make(chan chat.Message)
	m.outboxDone = make(chan struct{})
	return tea.Batch(
		runOutboxCmd(m.sh.ctx, m.sh.svc, delivered, m.outboxDone),
		nextDeliveredCmd(delivered),
	)
}

// delivered takes a message the outbox delivered.
func (m *model) delivered(msg chat.Message) { m.resolveOutgoing(msg.Room, msg) }

// resolveOutgoing replaces the pending copy of a message of mine with the
// message itself, once it is in the room, matched by the id chosen when
// it was typed (two messages of the same text stay apart).
func (m *model) resolveOutgoing(room string, msg chat.Message) {
	outs := m.sh.outgoing[room]
	i := slices.IndexFunc(outs, func(o *outgoing) bool { return o.id != "" && o.id == msg.ID })
	if i >= 0 {
		m.removeOutgoing(room, i)
	}
	// Only a message newer than the history read shows here at once: an
	// older one is in that read, or in an older page still to load; and
	// before the read returns, the room's feed queues it for the same test.
	if c := m.conv; c != nil && c.room.Name == room && c.loaded && msg.Revision > c.pageRev {
		c.addMessage(msg)
	}
}

func (m *model) removeOutgoing(room string, i int) {
	outs := slices.Delete(m.sh.outgoing[room], i, i+1)
	if len(outs) == 0 {
		delete(m.sh.outgoing, room)
	} else {
		m.sh.outgoing[room] = outs
	}
}
