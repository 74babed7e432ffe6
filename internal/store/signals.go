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

// signalDir holds a room's ephemeral signals, each bound to a lease so
// that etcd drops it by itself, and apart from the room's keys, so that
// no watch or read of the room's log ever sees them:
//
//	/parley/v2/signal/<room>/typing/<user>   value: unix milliseconds of the keystroke
//	/parley/v2/signal/<room>/read/<user>     value: etcd revision of the newest message seen
//
// They are unsigned hints like presence: chat decides what to show.
const signalDir = Prefix + "signal/"

// Signal kinds.
const (
	SignalTyping = "typing"
	SignalRead   = "read"
)

// Signal is one signal of a room.
type Signal struct {
	Kind  string // SignalTyping or SignalRead
	User  string
	Value string
	// Gone reports, in a watch, that the signal was deleted or expired.
	Gone bool
}

func signalKey(room names.Room, kind string, user names.User) (string, error) {
	if kind != SignalTyping && kind != SignalRead {
		return "", fmt.Errorf("unknown signal kind %q", kind)
	}
	return signalPrefix(room) + kind + "/" + string(user), nil
}

func signalPrefix(room names.Room) string {
	return signalDir + string(room) + "/"
}

// parseSignal reads a signal key of room's prefix; ok false for a key
// that is not one.
func parseSignal(prefix string, kv *mvccpb.KeyValue) (Signal, bool) {
	kind, user, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix), "/")
	if !ok || (kind != SignalTyping && kind != SignalRead) || !validUser(user) || len(kv.Value) > 32 {
		return Signal{}, false
	}
	return Signal{Kind: kind, User: user, Value: string(kv.Value)}, true
}

// PutSignal writes user's signal of kind in room, bound to a lease of ttl
// (whole seconds, at least one): etcd deletes it once that passes unless
// it is written again.
func (c *Client) PutSignal(ctx context.Context, room names.Room, kind string, user names.User, value string, ttl time.Duration) error {
	key, err := signalKey(room, kind, user)
	if err != nil {
		return err
	}
	lease, err := c.cli.Grant(ctx, max(int64(ttl/time.Second), 1))
	if err != nil {
		return fmt.Errorf("signal %s in %q: %w", kind, room, mapErr(err))
	}
	if _, err := c.cli.Put(ctx, key, value, clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("signal %s in %q: %w", kind, room, mapErr(err))
	}
	return nil
}

// DeleteSignal removes user's signal of kind in room, if any.
func (c *Client) DeleteSignal(ctx context.Context, room names.Room, kind string, user names.User) error {
	key, err := signalKey(room, kind, user)
	if err != nil {
		return err
	}
	if _, err := c.cli.Delete(ctx, key); err != nil {
		return fmt.Errorf("clear %s in %q: %w", kind, room, mapErr(err))
	}
	return nil
}

// Signals returns room's signals and the revision read.
func (c *Client) Signals(ctx context.Context, room names.Room) ([]Signal, int64, error) {
	prefix := signalPrefix(room)
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("read signals of %q: %w", room, mapErr(err))
	}
	var out []Signal
	for _, kv := range resp.Kvs {
		if s, ok := parseSignal(prefix, kv); ok {
			out = append(out, s)
		}
	}
	return out, resp.Header.Revision, nil
}

// SignalEvent is a batch of signal changes, or (Err) a watch resuming,
// or (Compacted) a start revision gone: read with Signals again.
type SignalEvent struct {
	Revision  int64
	Changes   []Signal
	Compacted bool
	Err       error
}

// WatchSignals delivers the changes of room's signals from fromRev (> 0)
// until ctx ends; the channel then closes.
func (c *Client) WatchSignals(ctx context.Context, room names.Room, fromRev int64) (<-chan SignalEvent, error) {
	if fromRev <= 0 {
		return nil, fmt.Errorf("watch signals: start revision must be positive")
	}
	prefix := signalPrefix(room)
	out := make(chan SignalEvent, 16)
	go c.watchLoop(ctx, prefix, fromRev, func(ev RoomEvent, resp *clientv3.WatchResponse) bool {
		se := SignalEvent{Revision: ev.Revision, Compacted: ev.Compacted, Err: ev.Err}
		if resp != nil {
			for _, e := range resp.Events {
				s, ok := parseSignal(prefix, e.Kv)
				if !ok {
					continue
				}
				s.Gone = e.Type == mvccpb.DELETE
				se.Changes = append(se.Changes, s)
			}
			if len(se.Changes) == 0 {
				return true
			}
		}
		select {
		case out <- se:
			return true
		case <-ctx.Done():
			return false
		}
	}, func() { close(out) })
	return out, nil
}
