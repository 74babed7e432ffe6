package cli

import (
	"fmt"
	"time"

	"github.com/parley-chat/parley/internal/chat"
)

// noticeText words a room notice for the command line.
func noticeText(room string, n chat.Notice) string {
	who := n.User
	if n.Me {
		who = "you"
	}
	switch n.Kind {
	case chat.NoticeRequest:
		if n.NewDevice {
			return fmt.Sprintf("%s asks to add a device recovered with their recovery code (parley approve %s %s)", n.User, room, n.User)
		}
		return fmt.Sprintf("%s asks to join %s (parley approve %s %s)", n.User, room, room, n.User)
	case chat.NoticeDevices:
		return fmt.Sprintf("%s now has %d device(s) in this room (listed by %s)", who, n.Devices, n.By)
	case chat.NoticeRekey:
		return fmt.Sprintf("%s changed their identity key (signed by the old one)", who)
	case chat.NoticeJoined:
		return fmt.Sprintf("%s joined (approved by %s)", who, n.By)
	case chat.NoticeLeft:
		return fmt.Sprintf("%s left", who)
	case chat.NoticeRemoved:
		return fmt.Sprintf("%s removed %s", n.By, who)
	case chat.NoticeDenied:
		return fmt.Sprintf("%s denied %s's request to join", n.By, n.User)
	case chat.NoticeRotated:
		return fmt.Sprintf("%s rotated the room key to epoch %d", n.By, n.Epoch)
	case chat.NoticeClosed:
		return fmt.Sprintf("%s closed the room", who)
	case chat.NoticePolicy:
		if n.Seconds == 0 {
			return fmt.Sprintf("%s made messages stay (they no longer disappear)", n.By)
		}
		return fmt.Sprintf("%s made messages disappear %s after they are sent", n.By, lifetimeWords(time.Duration(n.Seconds)*time.Second))
	}
	return fmt.Sprintf("room changed (%s)", n.Kind)
}

// lifetimeWords says how long messages live: "1h", "7d".
func lifetimeWords(d time.Duration) string { return formatLifetime(d) }
