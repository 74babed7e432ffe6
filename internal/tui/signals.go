package tui

import (
	"context"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// Typing indicators and read markers, for users who opt in
// (Options.ShareTyping, Options.ShareRead; off by default): while I type a
// message, the room's other members see "alice is typing…"; as I read,
// they see "seen by alice" once I have seen their newest message. What
// the others share shows whatever I share. Both are ephemeral signals
// (see chat.Typing), never part of the room's history.

// typingEvery is how often a typing indicator is renewed while typing,
// within its lifetime (chat.TypingFor).
const typingEvery = 3 * time.Second

// signalsMsg is a snapshot of what the room's other members share.
type signalsMsg struct {
	room string
	ch   <-chan chat.Signals
	sg   chat.Signals
}

func followSignalsCmd(ctx context.Context, svc *chat.Service, room string) tea.Cmd {
	return func() tea.Msg {
		ch, err := svc.FollowSignals(ctx, names.Room(room))
		if err != nil {
			return nil
		}
		return nextSignals(room, ch)
	}
}

func nextSignalsCmd(room string, ch <-chan chat.Signals) tea.Cmd {
	return func() tea.Msg { return nextSignals(room, ch) }
}

func nextSignals(room string, ch <-chan chat.Signals) tea.Msg {
	sg, ok := <-ch
	if !ok {
		return nil // the conversation was left
	}
	return signalsMsg{room: room, ch: ch, sg: sg}
}

// signalCmd shares a signal in the background; a failure only means the
// others do not see it.
func signalCmd(ctx context.Context, fn func(context.Context) error) tea.Cmd {
	return call(ctx, probeTimeout, func(ctx context.Context) tea.Msg {
		fn(ctx) //nolint:errcheck // a hint: best effort
		return nil
	})
}

// startSignals follows the room's signals for as long as the
// conversation shows.
func (c *conversation) startSignals() tea.Cmd {
	if c.sh.svc == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(c.sh.ctx)
	c.stopSignals = cancel
	return followSignalsCmd(ctx, c.sh.svc, c.room.Name)
}

// close stops what the conversation follows, and withdraws my typing
// indicator.
func (c *conversation) close() tea.Cmd {
	if c.stopSignals != nil {
		c.stopSignals()
	}
	return c.stopTyping()
}

func (c *conversation) onSignals(msg signalsMsg) tea.Cmd {
	if msg.sg.Err == nil {
		c.signals = msg.sg
	}
	return nextSignalsCmd(msg.room, msg.ch)
}

// typed notes that the input line changed: renew my typing indicator
// while a message is being typed, withdraw it when the line is emptied.
func (c *conversation) typed(before string) tea.Cmd {
	if !c.sh.opts.ShareTyping || c.sh.svc == nil {
		return nil
	}
	v := c.input.Value()
	if v == before {
		return nil
	}
	if strings.TrimSpace(v) == "" || strings.HasPrefix(v, "/") || c.mode == modeReact {
		return c.stopTyping()
	}
	now := time.Now()
	if now.Sub(c.typingAt) < typingEvery {
		return nil
	}
	c.typingAt = now
	svc, room := c.sh.svc, c.room.Name
	return signalCmd(c.sh.ctx, func(ctx context.Context) error { return svc.Typing(ctx, names.Room(room)) })
}

// stopTyping withdraws my typing indicator, if I shared one.
func (c *conversation) stopTyping() tea.Cmd {
	if c.typingAt.IsZero() {
		return nil
	}
	c.typingAt = time.Time{}
	svc, room := c.sh.svc, c.room.Name
	return signalCmd(c.sh.ctx, func(ctx context.Context) error { return svc.StopTyping(ctx, names.Room(room)) })
}

// shareRead tells the others how far I have read, if I share it.
func (m *model) shareRead(room string, rev int64) tea.Cmd {
	if !m.sh.opts.ShareRead || m.sh.svc == nil || rev <= 0 {
		return nil
	}
	svc := m.sh.svc
	return signalCmd(m.sh.ctx, func(ctx context.Context) error { return svc.ShareRead(ctx, names.Room(room), rev) })
}

// signalText is what the rule above the input says of the others: who is
// typing, who has seen my newest message.
func (c *conversation) signalText() string {
	var parts []string
	switch t := c.signals.Typing; len(t) {
	case 0:
	case 1:
		parts = append(parts, sanitize(t[0])+" is typing…")
	case 2:
		parts = append(parts, sanitize(t[0])+" and "+sanitize(t[1])+" are typing…")
	default:
		parts = append(parts, plural(len(t), "person", "people")+" are typing…")
	}
	var mine int64
	for _, e := range c.entries {
		if e.kind == entryMessage && e.msg.Mine && news(e.msg) && e.msg.Revision > mine {
			mine = e.msg.Revision
		}
	}
	if mine > 0 {
		var seen []string
		for u, rev := range c.signals.Read {
			if rev >= mine {
				seen = append(seen, sanitize(u))
			}
		}
		slices.Sort(seen)
		switch {
		case len(seen) == 1:
			parts = append(parts, "seen by "+seen[0])
		case len(seen) > 1 && len(seen) <= 3:
			parts = append(parts, "seen by "+strings.Join(seen, ", "))
		case len(seen) > 3:
			parts = append(parts, "seen by "+plural(len(seen), "member", "members"))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "── " + strings.Join(parts, " · ") + " "
}
