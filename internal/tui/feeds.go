package tui

import (
	"context"
	"fmt"
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// feed is one room subscription, kept while the user belongs to the room
// (or waits to), so unread counts and join requests arrive live.
type feed struct {
	gen    int
	ch     <-chan chat.Event // nil while starting
	cancel context.CancelFunc
	last   int64 // revision of the last event
	down   bool  // reported the connection lost
}

func (m *model) ensureFeed(room string, fromRev int64) tea.Cmd {
	if _, ok := m.feeds[room]; ok {
		return nil
	}
	m.feedGen++
	ctx, cancel := context.WithCancel(m.sh.ctx)
	f := &feed{gen: m.feedGen, cancel: cancel, last: fromRev}
	m.feeds[room] = f
	from := int64(0)
	if fromRev > 0 {
		from = fromRev + 1
	}
	return subscribeCmd(ctx, m.sh.svc, room, from, f.gen)
}

func (m *model) stopFeed(room string) {
	if f := m.feeds[room]; f != nil {
		f.cancel()
		delete(m.feeds, room)
	}
	m.bar.watchDown = m.anyFeedDown()
}

func (m *model) anyFeedDown() bool {
	for _, f := range m.feeds {
		if f.down {
			return true
		}
	}
	return false
}

func (m *model) onFeed(msg feedMsg) tea.Cmd {
	f := m.feeds[msg.room]
	if f == nil || f.gen != msg.gen || f.ch != nil {
		return nil // stopped or replaced meanwhile; its context is cancelled
	}
	if msg.err != nil {
		f.ch = nil
		return feedRetryCmd(msg.room)
	}
	f.ch = msg.ch
	return nextEventCmd(msg.room, msg.ch)
}

func (m *model) onEvent(msg eventMsg) tea.Cmd {
	f := m.feeds[msg.room]
	if f == nil || f.ch != msg.ch {
		return nil
	}
	ev := msg.ev
	f.last = max(f.last, ev.Revision)
	current := m.conv != nil && m.conv.room.Name == msg.room
	var cmds []tea.Cmd
	switch ev.Kind {
	case chat.EventStatus:
		f.down = ev.Err != nil
		m.bar.watchDown = m.anyFeedDown()
	case chat.EventMessage:
		a := m.sh.act(msg.room)
		if ev.Message.Revision > a.last.Revision && news(ev.Message) {
			a.last = ev.Message
		}
		if ev.Message.Mine {
			m.resolveOutgoing(msg.room, ev.Message)
		} else if !current && m.isMember(msg.room) && news(ev.Message) && ev.Message.Kind != chat.KindTopic {
			a.unread++
			if m.forMe(msg.room, ev.Message) {
				a.mentions++
			}
		}
		if m.isMember(msg.room) && m.forMe(msg.room, ev.Message) {
			cmds = append(cmds, m.alert(msg.room, ev.Message))
		}
		if current && m.conv.loaded {
			cmds = append(cmds, m.markRead(msg.room, ev.Message.Revision))
			if !ev.Message.Mine && news(ev.Message) {
				cmds = append(cmds, m.shareRead(msg.room, ev.Message.Revision))
			}
		}
	case chat.EventNotice:
		n := ev.Notice
		waiting := m.waiting != nil && m.waiting.room.Name == msg.room
		switch {
		case n.Me && n.Kind == chat.NoticeRemoved:
			return m.outOfRoom(msg.room, fmt.Sprintf("%s removed you from %s.", n.By, displayRoom(m.sh.me, msg.room)))
		case n.Me && n.Kind == chat.NoticeDenied && waiting:
			return m.outOfRoom(msg.room, fmt.Sprintf("%s denied your request to join %s.", n.By, msg.room))
		}
		if waiting {
			m.waiting.events = append(m.waiting.events, ev)
			cmds = append(cmds, roomCmd(m.sh.ctx, m.sh.timeout, m.sh.svc, msg.room))
		}
		if m.screen == screenRooms {
			cmds = append(cmds, m.listRooms()) // members or requests changed
		}
		if ev.Notice.Kind == chat.NoticeRequest && !current && m.isMember(msg.room) {
			m.bar.alert = fmt.Sprintf("%s wants to join %s", ev.Notice.User, displayRoom(m.sh.me, msg.room))
		}
	}
	if current {
		cmds = append(cmds, m.conv.Update(msg))
	}
	cmds = append(cmds, nextEventCmd(msg.room, msg.ch))
	return tea.Batch(cmds...)
}

// outOfRoom takes me out of a room on someone else's word: a member
// removed me, or denied my request to join. If the room shows, the list
// takes its place and says why; otherwise the status bar says it. Either
// way, at once: not when a message I send next fails. (Another room's
// conversation on screen says it too: the bar may be too narrow.)
func (m *model) outOfRoom(room, why string) tea.Cmd {
	m.stopFeed(room)
	if (m.conv != nil && m.conv.room.Name == room) || (m.waiting != nil && m.waiting.room.Name == room) {
		return m.showRooms(why)
	}
	m.bar.alert = why
	if m.conv != nil {
		m.conv.addInfo(why)
	}
	return m.listRooms()
}

func (m *model) isMember(room string) bool {
	return slices.ContainsFunc(m.sh.rooms, func(r chat.RoomInfo) bool { return r.Name == room && r.Member })
}

// Presence.

func (m *model) onPresence(msg presenceMsg) tea.Cmd {
	if msg.closed {
		return nil // the session ended
	}
	if msg.p.Err == nil {
		m.sh.online = msg.p.Online
	}
	return nextPresenceCmd(msg.ch)
}
