package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// EndpointStatus is what one etcd endpoint answered to a probe.
type EndpointStatus struct {
	Endpoint string `json:"endpoint"`
	OK       bool   `json:"ok"`
	Leader   bool   `json:"leader"`
	NoLeader bool   `json:"no_leader,omitempty"` // it answers but knows no leader
	Err      string `json:"error,omitempty"`
}

// ClusterStatus probes every configured endpoint, bounded by ctx.
func (s *Service) ClusterStatus(ctx context.Context) []EndpointStatus {
	hs := s.st.Health(ctx)
	out := make([]EndpointStatus, len(hs))
	for i, h := range hs {
		out[i] = EndpointStatus{Endpoint: h.Endpoint, OK: h.OK, Leader: h.Leader, NoLeader: h.NoLeader}
		if h.Err != nil {
			out[i].Err = h.Err.Error()
		}
	}
	return out
}

// RoomSummary is what a room list shows of a room's activity.
type RoomSummary struct {
	Room string
	// Last is the newest message (verified and decrypted if I can read it);
	// zero if the room has none.
	Last Message
	// Unread counts the messages (and replies) from others after the
	// revision passed to Summary, among the newest UnreadScan; UnreadMore reports that there
	// may be more.
	Unread     int
	UnreadMore bool
	// Mentions counts those of the unread messages that mention me.
	Mentions int
}

// UnreadScan is how many of a room's newest messages Summary reads to count
// the unread ones: one limited range, verified like any other read.
const UnreadScan = 100

// Summary returns the newest message of room and how many messages from
// others arrived after revision seen (0: count none).
func (s *Service) Summary(ctx context.Context, room names.Room, seen int64) (RoomSummary, error) {
	name := string(room)
	sum := RoomSummary{Room: name}
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return sum, err
	}
	limit := 1
	if seen > 0 {
		limit = UnreadScan
	}
	page, err := s.st.Messages(ctx, names.Room(name), "", limit, 0)
	if err != nil {
		return sum, err
	}
	if len(page.Messages) == 0 {
		return sum, nil
	}
	msgs, err := s.verifyAll(ctx, v, page.Messages)
	if err != nil || len(msgs) == 0 {
		return sum, err
	}
	return summarize(name, msgs, seen, page.More, s.me.Name()), nil
}

// summarize is the summary of a room whose newest messages are msgs (in
// revision order), more reporting that older ones exist: the newest
// message, and the messages from others after revision seen (0: count
// none) among msgs.
func summarize(room string, msgs []Message, seen int64, more bool, me string) RoomSummary {
	sum := RoomSummary{Room: room}
	if len(msgs) == 0 {
		return sum
	}
	sum.Last = msgs[len(msgs)-1]
	if seen <= 0 {
		return sum
	}
	older := false
	for _, m := range msgs {
		switch {
		case m.Revision <= seen:
			older = true
		case !m.Mine && m.Rejected == "" && (m.Kind == KindText || m.Kind == KindReply):
			// Edits, deletions, reactions and topics are not news.
			sum.Unread++
			if m.Mentions(me) {
				sum.Mentions++
			}
		}
	}
	sum.UnreadMore = !older && more
	return sum
}

// ReadMark returns the revision of the newest message of room I have seen,
// as recorded by MarkRead (in this process or an earlier one); 0 if none.
func (s *Service) ReadMark(room names.Room) int64 {
	if s.readMarks == nil {
		return 0
	}
	name := string(room)
	return s.readMarks.ReadMark(name)
}

// MarkRead records that I have seen room's messages up to revision rev.
func (s *Service) MarkRead(room names.Room, rev int64) error {
	if s.readMarks == nil || rev <= 0 {
		return nil
	}
	name := string(room)
	if err := s.readMarks.SetReadMark(name, rev); err != nil {
		return fmt.Errorf("remember what I read in %q: %w", name, err)
	}
	return nil
}

// Summaries returns the summaries of many rooms, as Summary does for one,
// reading the newest messages of up to 100 rooms per round trip: a room
// list of thousands of rooms costs tens of round trips, not thousands.
// seen gives the read mark of a room (0: count none), progress (if not
// nil) is called after each batch with the rooms done. The maps are keyed
// by room name; a room that cannot be summarized is in failed with the
// reason; err is for the cluster.
func (s *Service) Summaries(ctx context.Context, rooms []names.Room, seen func(names.Room) int64, progress func(done int)) (sums map[string]RoomSummary, failed map[string]error, err error) {
	sums = make(map[string]RoomSummary, len(rooms))
	failed = make(map[string]error)
	var plain, unread []names.Room
	for _, r := range rooms {
		if seen(r) > 0 {
			unread = append(unread, r)
		} else {
			plain = append(plain, r)
		}
	}
	done := 0
	for _, set := range []struct {
		rooms []names.Room
		limit int
	}{{plain, 1}, {unread, UnreadScan}} {
		for start := 0; start < len(set.rooms); start += 100 {
			batch := set.rooms[start:min(start+100, len(set.rooms))]
			pages, err := s.st.NewestMessages(ctx, batch, set.limit)
			if err != nil {
				return sums, failed, err
			}
			for _, r := range batch {
				sum, err := s.summaryOf(ctx, string(r), pages[r], seen(r))
				if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
					return sums, failed, err
				}
				if err != nil {
					failed[string(r)] = err
					continue
				}
				sums[string(r)] = sum
			}
			done += len(batch)
			if progress != nil {
				progress(done)
			}
		}
	}
	return sums, failed, nil
}

// summaryOf is the summary of room from its newest messages page.
func (s *Service) summaryOf(ctx context.Context, name string, page store.MessagePage, seen int64) (RoomSummary, error) {
	sum := RoomSummary{Room: name}
	if len(page.Messages) == 0 {
		return sum, nil
	}
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return sum, err
	}
	msgs, err := s.verifyAll(ctx, v, page.Messages)
	if err != nil || len(msgs) == 0 {
		return sum, err
	}
	return summarize(name, msgs, seen, page.More, s.me.Name()), nil
}
