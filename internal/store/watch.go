package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// RoomEvent is one batch of changes to a room, delivered by WatchRoom in
// revision order.
type RoomEvent struct {
	// Revision is the revision up to which the watch has delivered every
	// change; resume from Revision+1.
	Revision int64
	// Messages are new message envelopes, in revision order.
	Messages []RawMessage
	// Deleted lists ids of messages deleted from etcd. Honest clients never
	// delete messages; readers flag it.
	Deleted []string
	// StateChanged reports that the room's chain or its join requests
	// changed: re-read them with RoomChain.
	StateChanged bool
	// Compacted reports that the watch's start revision was compacted: the
	// changes in between are lost to the watch. Re-read the room, then call
	// WatchRoom again from the read's revision + 1. The channel closes after
	// this event.
	Compacted bool
	// Err, when set, reports that the watch lost its connection or its
	// leader and is resuming from Revision+1 by itself; nothing is missed.
	Err error
}

// RoomsEvent reports rooms created (or, with raw etcd access, changed or
// deleted) since the watch started.
type RoomsEvent struct {
	Revision  int64
	Changed   []*Signed[Room]
	Bad       []BadRecord
	Compacted bool
	Err       error
}

// WatchRoom delivers changes to room from revision fromRev (which must be
// > 0: use a read's Revision+1) until ctx is done, then closes the channel.
// It watches with WithRequireLeader, so a client attached to a member cut
// off from the quorum notices; it resumes by itself after a lost
// connection, from the last revision delivered, without gap or duplicate.
func (c *Client) WatchRoom(ctx context.Context, room names.Room, fromRev int64) (<-chan RoomEvent, error) {
	if fromRev <= 0 {
		return nil, fmt.Errorf("watch %q: start revision must be positive", room)
	}
	out := make(chan RoomEvent, 16)
	mp, cp, qp := msgPrefix(room), commitPrefix(room), requestPrefix(room)
	go c.watchLoop(ctx, roomPrefix(room), fromRev, func(ev RoomEvent, resp *clientv3.WatchResponse) bool {
		if resp != nil {
			for _, e := range resp.Events {
				key := string(e.Kv.Key)
				switch {
				case strings.HasPrefix(key, mp):
					id := strings.TrimPrefix(key, mp)
					if e.Type == mvccpb.DELETE {
						ev.Deleted = append(ev.Deleted, id)
						continue
					}
					ev.Messages = append(ev.Messages, RawMessage{ID: id, Value: e.Kv.Value, CreateRevision: e.Kv.CreateRevision, ModRevision: e.Kv.ModRevision})
				case strings.HasPrefix(key, cp), strings.HasPrefix(key, qp):
					ev.StateChanged = true
				}
			}
			if len(ev.Messages) == 0 && len(ev.Deleted) == 0 && !ev.StateChanged && len(resp.Events) > 0 {
				return true // nothing of interest
			}
		}
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}, func() { close(out) })
	return out, nil
}

// WatchRooms delivers changes to the list of rooms from fromRev (> 0).
func (c *Client) WatchRooms(ctx context.Context, fromRev int64) (<-chan RoomsEvent, error) {
	if fromRev <= 0 {
		return nil, fmt.Errorf("watch rooms: start revision must be positive")
	}
	out := make(chan RoomsEvent, 16)
	go c.watchLoop(ctx, roomsDir, fromRev, func(ev RoomEvent, resp *clientv3.WatchResponse) bool {
		re := RoomsEvent{Revision: ev.Revision, Compacted: ev.Compacted, Err: ev.Err}
		if resp != nil {
			for _, e := range resp.Events {
				if e.Type != mvccpb.PUT {
					continue
				}
				key := string(e.Kv.Key)
				name := strings.TrimPrefix(key, roomsDir)
				if _, err := parseRoom(name); err != nil {
					re.Bad = append(re.Bad, BadRecord{Key: key, Revision: e.Kv.ModRevision, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
					continue
				}
				r, err := decodeRoom(key, name, e.Kv.Value, e.Kv.CreateRevision, e.Kv.ModRevision)
				if err != nil {
					re.Bad = append(re.Bad, BadRecord{Key: key, Revision: e.Kv.ModRevision, Err: err})
					continue
				}
				re.Changed = append(re.Changed, r)
			}
			if len(re.Changed) == 0 && len(re.Bad) == 0 {
				return true
			}
		}
		select {
		case out <- re:
			return true
		case <-ctx.Done():
			return false
		}
	}, func() { close(out) })
	return out, nil
}

// watchLoop runs one resumable watch on prefix. emit is called with a batch
// (and the raw response, or nil for status-only events); it returns false to
// stop. done runs when the loop exits.
func (c *Client) watchLoop(ctx context.Context, prefix string, next int64, emit func(RoomEvent, *clientv3.WatchResponse) bool, done func()) {
	defer done()
	const maxBackoff = 2 * time.Second
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := c.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(next), clientv3.WithProgressNotify())
		var lastErr error
		for resp := range wch {
			if resp.CompactRevision != 0 {
				emit(RoomEvent{Revision: resp.CompactRevision, Compacted: true}, nil)
				cancel()
				return
			}
			if err := resp.Err(); err != nil {
				lastErr = mapErr(err)
				break
			}
			backoff = 50 * time.Millisecond
			rev := resp.Header.Revision
			for _, e := range resp.Events {
				rev = max(rev, e.Kv.ModRevision)
			}
			if len(resp.Events) == 0 && !resp.IsProgressNotify() {
				continue
			}
			if !emit(RoomEvent{Revision: rev}, &resp) {
				cancel()
				return
			}
			next = rev + 1
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if lastErr == nil {
			lastErr = ErrUnavailable
		}
		if !emit(RoomEvent{Revision: next - 1, Err: fmt.Errorf("watch interrupted, resuming: %w", lastErr)}, nil) {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}
