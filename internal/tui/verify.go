package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// /verify USER shows, in the conversation, the safety code that the user
// and USER compare out of band: the same code parley verify prints.
// Marking USER verified stays a deliberate step on the command line.

// verifyMsg is the safety code /verify asked for.
type verifyMsg struct {
	room   string // the conversation it was typed in
	safety chat.Safety
	err    error
}

func verifyCmd(ctx context.Context, d time.Duration, svc *chat.Service, room, user string) tea.Cmd {
	return call(ctx, d, func(ctx context.Context) tea.Msg {
		sf, err := svc.Safety(ctx, user)
		return verifyMsg{room: room, safety: sf, err: err}
	})
}

// onVerify shows the code as an info block, or why there is none.
func (c *conversation) onVerify(msg verifyMsg) tea.Cmd {
	if msg.err != nil {
		c.addError(msg.err)
		var kc *chat.KeyChangedError
		if errors.As(msg.err, &kc) {
			c.addInfo(fmt.Sprintf("Either %s replaced their keys or someone with write access to etcd did. See both keys and their codes with: parley trust %s", kc.User, kc.User))
		}
		return nil
	}
	c.addInfo(strings.Join(safetyLines(msg.safety), "\n"))
	return nil
}

// safetyLines is the info block of /verify.
func safetyLines(sf chat.Safety) []string {
	lines := []string{fmt.Sprintf("Safety code of %s and %s:", sf.Me, sf.User)}
	groups := strings.Fields(sf.Code)
	for i := 0; i < len(groups); i += 4 {
		lines = append(lines, "    "+strings.Join(groups[i:min(i+4, len(groups))], " "))
	}
	// Short lines: the transcript beside the members panel is narrow.
	w := max(len(sf.Me), len(sf.User))
	lines = append(lines,
		fmt.Sprintf("  %s  %s", padRight(sf.Me, w), sf.MyFingerprint),
		fmt.Sprintf("  %s  %s", padRight(sf.User, w), sf.Fingerprint),
	)
	if sf.Verified {
		return append(lines, fmt.Sprintf("You marked %s verified with this key.", sf.User))
	}
	return append(lines,
		fmt.Sprintf("%s is not verified. Compare the code with %s", sf.User, sf.User),
		fmt.Sprintf("in person or on a call: their /verify %s shows it too.", sf.Me),
		fmt.Sprintf("If it matches: parley verify %s --mark", sf.User),
	)
}
