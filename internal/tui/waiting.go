package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// waitingModel is shown while my request to join a room waits for a
// member: it says who can let me in (and who of them is online), follows
// the room live, and moves into the room the moment a member approves.
// Esc withdraws the request.
type waitingModel struct {
	sh     *shared
	width  int
	height int
	help   help.Model

	room   chat.RoomInfo
	since  time.Time
	cancel context.CancelFunc // stops WaitApproval

	cancelling bool
	err        error
	// events of the room seen while waiting: the notice of my approval
	// may come before WaitApproval returns, and belongs in the room.
	events []chat.Event
}

func newWaiting(sh *shared, r chat.RoomInfo, cancel context.CancelFunc) *waitingModel {
	w := &waitingModel{sh: sh, room: r, since: time.Now(), cancel: cancel, help: help.New()}
	w.help.Styles = sh.st.help
	return w
}

func (w *waitingModel) SetSize(width, height int) {
	w.width, w.height = width, height
	w.help.SetWidth(width - 4)
}

func (w *waitingModel) setRoom(r chat.RoomInfo) { w.room = r }

func (w *waitingModel) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case approvalMsg:
		// A denial takes me back to the list (see model.outOfRoom).
		if !errors.Is(msg.err, context.Canceled) {
			w.err = msg.err
		}
	case cancelJoinMsg:
		w.cancelling = false
		w.err = msg.err
	case tea.KeyPressMsg:
		done := w.err != nil
		switch {
		case key.Matches(msg, w.sh.keys.Back), done && key.Matches(msg, w.sh.keys.Enter):
			if done {
				return emit(showRoomsMsg{})
			}
			if w.cancelling {
				return nil
			}
			w.cancelling = true
			w.cancel()
			return cancelJoinCmd(w.sh.ctx, w.sh.timeout, w.sh.svc, w.room.Name)
		}
	}
	return nil
}

func (w *waitingModel) View() string {
	st := w.sh.st
	lines := []string{
		"",
		"  " + st.title.Render("Waiting for approval to join "+w.room.Name),
		"",
	}
	switch {
	case w.err != nil:
		// The error wraps: frame would cut it at the edge.
		for _, l := range wrap(sanitize("The request could not be followed: "+w.err.Error()), max(w.width-4, 20)) {
			lines = append(lines, "  "+st.err.Render(l))
		}
		lines = append(lines, "", "  Press enter or esc to go back to the room list.")
	default:
		for _, s := range wrap(fmt.Sprintf("Your request is sent. Any member of %s can let you in by typing !%s in the room. You will enter the room, with its whole history, as soon as one does.", w.room.Name, w.sh.me), max(w.width-4, 20)) {
			lines = append(lines, "  "+s)
		}
		lines = append(lines, "", "  "+plural(w.room.MemberCount, "member", "members")+" can approve:")
		for _, name := range w.room.Members {
			mark, state := "○", ""
			if w.sh.online[name] {
				mark, state = st.online.Render("●"), st.online.Render(" (online)")
			}
			lines = append(lines, fmt.Sprintf("    %s %s%s", mark, st.sender(name).Render(name), state))
		}
		status := "  Waiting since " + w.since.Format("15:04:05") + "."
		if w.cancelling {
			status = "  Withdrawing the request…"
		}
		lines = append(lines, "", st.subtle.Render(status))
	}
	body := frame(lines, w.width, max(w.height-1, 0))
	return body + "\n  " + w.help.ShortHelpView(w.sh.keys.WaitingHelp())
}
