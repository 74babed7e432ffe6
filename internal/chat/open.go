package chat

import (
	"context"
	"slices"

	"github.com/parley-chat/parley/internal/names"
)

// RoomScreen is what a conversation opens with, read in one call: the
// room as it stands, its newest messages, its members and the requests to
// join it, all from one verified state of its chain.
type RoomScreen struct {
	Room RoomInfo
	// Page is the newest page of verified messages, oldest first.
	Page *Page
	// Members are the current members, marked verified where I compared
	// their key (see MarkVerified).
	Members []Member
	// Requests are the pending requests to join.
	Requests []JoinRequest
	// Summary is the newest message of the page and how many from others
	// it holds after my read mark (see ReadMark).
	Summary RoomSummary
}

// OpenRoom reads what a conversation of room opens with: its newest n
// messages (all of them if n <= 0), verified and decrypted, with the room's
// members, pending join requests and summary. Only a member may open a
// room (ErrNotMember otherwise). An error means nothing was read: there is
// no screen half filled.
func (s *Service) OpenRoom(ctx context.Context, room names.Room, n int) (RoomScreen, error) {
	name := string(room)
	page, err := s.readPages(ctx, name, "", 0, n, nil)
	if err != nil {
		return RoomScreen{}, err
	}
	// The view the page was verified with (or a newer one), as read.
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return RoomScreen{}, err
	}
	return RoomScreen{
		Room:     v.info(s.me.Name()),
		Page:     page,
		Members:  s.members(v),
		Requests: slices.Clone(v.requests),
		Summary:  summarize(name, page.Messages, s.ReadMark(room), page.More, s.me.Name()),
	}, nil
}
