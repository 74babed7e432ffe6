package tui

import (
	"fmt"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

// The top line of a conversation: my rooms by number, and the keys that
// go round them.

// tabs is the top line: my rooms by number, the current one highlighted,
// others with their unread count.
func (c *conversation) tabs() string {
	st := c.sh.st
	rooms, nums := c.memberRooms()
	if !containsRoom(rooms, c.room.Name) {
		rooms, nums = append(rooms, c.room), append(nums, -1)
	}
	var parts []string
	for i, r := range rooms {
		label := displayRoom(c.sh.me, r.Name)
		if nums[i] >= 0 {
			label = fmt.Sprintf("%d %s", nums[i], label)
		}
		if r.Name == c.room.Name {
			parts = append(parts, st.tabOn.Render(" "+label+" "))
			continue
		}
		tab := st.tab.Render(" " + label)
		if a := c.sh.activity[r.Name]; a != nil && a.mentions > 0 {
			tab += st.mention.Render(fmt.Sprintf(" •%d@", a.unread))
		} else if a != nil && a.unread > 0 {
			tab += st.unread.Render(fmt.Sprintf(" •%d", a.unread))
		}
		parts = append(parts, tab+" ")
	}
	return strings.Join(parts, " ")
}

func containsRoom(rooms []chat.RoomInfo, name string) bool {
	for _, r := range rooms {
		if r.Name == name {
			return true
		}
	}
	return false
}

// Switching rooms.

// memberRooms returns my rooms with their list numbers.
func (c *conversation) memberRooms() (rooms []chat.RoomInfo, nums []int) {
	for i, r := range c.sh.rooms {
		if r.Member {
			rooms, nums = append(rooms, r), append(nums, i)
		}
	}
	return rooms, nums
}

func (c *conversation) switchRoom(d int) tea.Cmd {
	rooms, _ := c.memberRooms()
	if len(rooms) == 0 {
		return nil
	}
	i := slices.IndexFunc(rooms, func(r chat.RoomInfo) bool { return r.Name == c.room.Name })
	if i < 0 {
		i = 0
		if d < 0 {
			i = len(rooms) - 1
		}
	} else {
		i = (i + d + len(rooms)) % len(rooms)
	}
	if rooms[i].Name == c.room.Name {
		return nil
	}
	return emit(openMsg{room: rooms[i]})
}

// gotoRoom opens the room with list number n, if it is one of mine.
func (c *conversation) gotoRoom(n int) tea.Cmd {
	if n < 0 || n >= len(c.sh.rooms) {
		return nil
	}
	r := c.sh.rooms[n]
	if !r.Member || r.Name == c.room.Name {
		return nil
	}
	return emit(openMsg{room: r})
}
