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

// presenceDir holds one key per online user, bound to a lease that the
// user's client keeps alive: when the client stops or loses the cluster,
// etcd deletes the key once the lease expires.
//
//	/parley/v1/presence/<user>    value: unix seconds when the session began
const presenceDir = Prefix + "presence/"

// PresenceTTL is how long a user still shows as online after their client
// vanished without saying goodbye.
const PresenceTTL = 15 * time.Second

// Presence keeps user's presence key alive until ctx ends or the returned
// stop function is called; stop waits for the keeper to exit and revokes the
// lease so the user shows offline at once. If the cluster is unreachable
// the keeper retries on its own.
func (c *Client) Presence(ctx context.Context, user names.User) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := c.keepPresence(ctx, user); err != nil && ctx.Err() == nil {
				c.log.Debug("presence lost, retrying", "err", err)
			}
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

func (c *Client) keepPresence(ctx context.Context, user names.User) error {
	lease, err := c.cli.Grant(ctx, int64(PresenceTTL/time.Second))
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.cli.Revoke(rctx, lease.ID)
		cancel()
	}()
	if _, err := c.cli.Put(ctx, presenceKey(user), fmt.Sprint(time.Now().Unix()), clientv3.WithLease(lease.ID)); err != nil {
		return mapErr(err)
	}
	ka, err := c.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return mapErr(err)
	}
	for range ka {
	}
	return ctx.Err()
}

// Online returns the users whose presence key exists, and the revision.
func (c *Client) Online(ctx context.Context) (map[string]bool, int64, error) {
	resp, err := c.cli.Get(ctx, presenceDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, 0, fmt.Errorf("read presence: %w", mapErr(err))
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		u := strings.TrimPrefix(string(kv.Key), presenceDir)
		if _, err := parseUser(u); err == nil {
			out[u] = true
		}
	}
	return out, resp.Header.Revision, nil
}

// PresenceChange is one user coming online or going offline.
type PresenceChange struct {
	User   string
	Online bool
}

// WatchPresence delivers presence changes from fromRev (> 0) until ctx
// ends; the channel then closes. A nil batch with a non-nil error reports a
// resuming watch; on compaction the caller re-reads with Online.
func (c *Client) WatchPresence(ctx context.Context, fromRev int64) (<-chan PresenceEvent, error) {
	if fromRev <= 0 {
		return nil, fmt.Errorf("watch presence: start revision must be positive")
	}
	out := make(chan PresenceEvent, 16)
	go c.watchLoop(ctx, presenceDir, fromRev, func(ev RoomEvent, resp *clientv3.WatchResponse) bool {
		pe := PresenceEvent{Revision: ev.Revision, Compacted: ev.Compacted, Err: ev.Err}
		if resp != nil {
			for _, e := range resp.Events {
				u := strings.TrimPrefix(string(e.Kv.Key), presenceDir)
				if _, err := parseUser(u); err != nil {
					continue
				}
				pe.Changes = append(pe.Changes, PresenceChange{User: u, Online: e.Type == mvccpb.PUT})
			}
			if len(pe.Changes) == 0 {
				return true
			}
		}
		select {
		case out <- pe:
			return true
		case <-ctx.Done():
			return false
		}
	}, func() { close(out) })
	return out, nil
}

// PresenceEvent is a batch of presence changes.
type PresenceEvent struct {
	Revision  int64
	Changes   []PresenceChange
	Compacted bool
	Err       error
}
