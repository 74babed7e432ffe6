package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// RawMessage is one stored message envelope, not yet verified.
type RawMessage struct {
	ID    string // message id, the last segment of the key
	Value []byte // the envelope
	// CreateRevision orders messages: it is the same for every reader.
	CreateRevision int64
	// ModRevision differs from CreateRevision only if the record was
	// overwritten, which an honest client never does.
	ModRevision int64
}

// PutMessage stores one envelope under its id, create-only and conditional
// on the room's chain: commit number next must not exist yet (the sender
// sealed under commit next-1, the newest it verified). One transaction and
// one round trip.
//
// It is idempotent: if a record with this id already exists with the same
// bytes (a retry of a write that had committed), it reports success with
// the original revision. Errors: ErrStale if commit next exists (the
// membership changed: verify it, then seal again), ErrExists if a different
// record holds the id.
func (c *Client) PutMessage(ctx context.Context, room names.Room, id string, envelope []byte, next uint64) (rev int64, err error) {
	return c.putMessage(ctx, room, id, envelope, next, 0)
}

func (c *Client) putMessage(ctx context.Context, room names.Room, id string, envelope []byte, next uint64, lease clientv3.LeaseID) (rev int64, err error) {
	if !validID(id) {
		return 0, fmt.Errorf("send to %q: bad message id %q", room, id)
	}
	if len(envelope) > maxRequestBytes-1024 {
		return 0, fmt.Errorf("send to %q: %w", room, ErrTooLarge)
	}
	k := msgKey(room, id)
	var resp *clientv3.TxnResponse
	err = c.attempts.attempt(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).
			If(
				clientv3.Compare(clientv3.CreateRevision(k), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(commitKey(room, next)), "=", 0),
			).
			Then(clientv3.OpPut(k, string(envelope), leaseOpt(lease)...)).
			Else(clientv3.OpGet(k)).
			Commit()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("send to %q: %w", room, mapErr(err))
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		if bytes.Equal(kvs[0].Value, envelope) {
			return kvs[0].CreateRevision, nil
		}
		return 0, fmt.Errorf("send to %q: message id %s: %w", room, id, ErrExists)
	}
	return 0, fmt.Errorf("send to %q: %w", room, ErrStale)
}

// MessagePut is one message of a batch.
type MessagePut struct {
	ID       string
	Envelope []byte
}

// MaxBatch is the most messages PutMessages writes in one transaction
// (etcd allows 128 operations per transaction by default).
const MaxBatch = 64

// PutMessages stores several envelopes of one room in one transaction:
// each under its own key, create-only, all conditional on the room
// version. Concurrent sends share the cost of a transaction this way
// (group commit). It is all or nothing: if any key exists or commit next
// exists, nothing is written and ErrConflict is returned; the caller then
// writes the messages one by one with PutMessage, which tells the cases
// apart. Messages written together share a revision; readers order them by
// id after revision, so the ops are issued in that order.
func (c *Client) PutMessages(ctx context.Context, room names.Room, msgs []MessagePut, next uint64) (rev int64, err error) {
	return c.putMessages(ctx, room, msgs, next, 0)
}

func (c *Client) putMessages(ctx context.Context, room names.Room, msgs []MessagePut, next uint64, lease clientv3.LeaseID) (rev int64, err error) {
	if len(msgs) == 0 || len(msgs) > MaxBatch {
		return 0, fmt.Errorf("send to %q: batch of %d messages", room, len(msgs))
	}
	cmps := make([]clientv3.Cmp, 0, len(msgs)+1)
	ops := make([]clientv3.Op, 0, len(msgs))
	size := 0
	cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(commitKey(room, next)), "=", 0))
	for _, m := range msgs {
		if !validID(m.ID) {
			return 0, fmt.Errorf("send to %q: bad message id %q", room, m.ID)
		}
		size += len(m.Envelope) + 128
		k := msgKey(room, m.ID)
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		ops = append(ops, clientv3.OpPut(k, string(m.Envelope), leaseOpt(lease)...))
	}
	if size > maxRequestBytes-4096 {
		return 0, fmt.Errorf("send to %q: %w", room, ErrTooLarge)
	}
	var resp *clientv3.TxnResponse
	err = c.attempts.attempt(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("send to %q: %w", room, mapErr(err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("send to %q: %w", room, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// ErrStale means the room's chain grew under a conditional write (a
// membership commit landed): re-read the chain and try again.
var ErrStale = fmt.Errorf("room changed: %w", ErrConflict)

// MessagePage is one page of a room's messages in key order, which is
// newest first (message ids start with an inverted timestamp). Callers sort
// by CreateRevision for display.
type MessagePage struct {
	Messages []RawMessage
	// Revision is the etcd revision the page was read at; pass it back to
	// read further pages of the same snapshot, and watch from Revision+1.
	Revision int64
	// More reports whether older messages remain after this page.
	More bool
	// Next is the cursor for the following (older) page.
	Next string
	// Stale reports that the cluster had no quorum and the page is one
	// member's own copy, which may be behind (see stale.go).
	Stale bool
}

// Messages reads up to limit messages of room, newest first, starting after
// the cursor (an id from a previous page's Next; "" for the newest). rev 0
// reads the latest revision; otherwise the page is read at rev (ErrCompacted
// if it is gone). Because keys are ordered newest-first and the range is
// ascending with no revision filter, etcd stops after limit keys: reading
// the newest page costs the same in a room of ten messages or of millions.
func (c *Client) Messages(ctx context.Context, room names.Room, after string, limit int, rev int64) (MessagePage, error) {
	if limit <= 0 {
		limit = 1000
	}
	p := msgPrefix(room)
	start := p
	if after != "" {
		start = p + after + "\x00"
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(p)), clientv3.WithLimit(int64(limit))}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, stale, err := c.getOrStale(ctx, start, opts...)
	if err != nil {
		return MessagePage{}, fmt.Errorf("read messages of %q: %w", room, mapErr(err))
	}
	page := MessagePage{Revision: resp.Header.Revision, More: resp.More, Messages: make([]RawMessage, 0, len(resp.Kvs)), Stale: stale}
	if rev > 0 {
		page.Revision = rev
	}
	for _, kv := range resp.Kvs {
		page.Messages = append(page.Messages, RawMessage{
			ID:             strings.TrimPrefix(string(kv.Key), p),
			Value:          kv.Value,
			CreateRevision: kv.CreateRevision,
			ModRevision:    kv.ModRevision,
		})
	}
	if n := len(page.Messages); n > 0 {
		page.Next = page.Messages[n-1].ID
	}
	return page, nil
}

// MessageKey is one stored message without its envelope: its id and the
// revision that orders it.
type MessageKey struct {
	ID             string
	CreateRevision int64
}

// MessageKeyPage is one page of a room's message keys, in key order
// (newest first), as MessagePage without the envelopes.
type MessageKeyPage struct {
	Keys     []MessageKey
	Revision int64
	More     bool
	Next     string
	// Stale reports a read from a member's own copy, the cluster having
	// no quorum (see stale.go).
	Stale bool
}

// MessageKeys reads up to limit message ids of room with their revisions,
// newest first, after the cursor, at rev (0: the latest revision), as
// Messages does but without the envelopes: the index a reader walks to
// read a long history oldest first, a few bytes per message.
func (c *Client) MessageKeys(ctx context.Context, room names.Room, after string, limit int, rev int64) (MessageKeyPage, error) {
	if limit <= 0 {
		limit = 1000
	}
	p := msgPrefix(room)
	start := p
	if after != "" {
		start = p + after + "\x00"
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(p)), clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, stale, err := c.getOrStale(ctx, start, opts...)
	if err != nil {
		return MessageKeyPage{}, fmt.Errorf("read message ids of %q: %w", room, mapErr(err))
	}
	page := MessageKeyPage{Revision: resp.Header.Revision, More: resp.More, Stale: stale, Keys: make([]MessageKey, 0, len(resp.Kvs))}
	if rev > 0 {
		page.Revision = rev
	}
	for _, kv := range resp.Kvs {
		page.Keys = append(page.Keys, MessageKey{ID: strings.TrimPrefix(string(kv.Key), p), CreateRevision: kv.CreateRevision})
	}
	if n := len(page.Keys); n > 0 {
		page.Next = page.Keys[n-1].ID
	}
	return page, nil
}

// CountMessages returns the number of messages stored in room.
func (c *Client) CountMessages(ctx context.Context, room names.Room) (int64, error) {
	resp, err := c.cli.Get(ctx, msgPrefix(room), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count messages of %q: %w", room, mapErr(err))
	}
	return resp.Count, nil
}

// validID accepts message ids as keys: 32 lowercase hex digits.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return false
		}
	}
	return true
}

// Message reads one message by id; ErrNotFound if there is none.
func (c *Client) Message(ctx context.Context, room names.Room, id string) (RawMessage, error) {
	if !validID(id) {
		return RawMessage{}, fmt.Errorf("read message: bad id %q", id)
	}
	resp, _, err := c.getOrStale(ctx, msgKey(room, id))
	if err != nil {
		return RawMessage{}, fmt.Errorf("read message %s of %q: %w", id, room, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return RawMessage{}, fmt.Errorf("message %s of %q: %w", id, room, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return RawMessage{ID: id, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}, nil
}

// NewestMessages reads the newest limit messages (newest first) of each of
// rooms, many rooms to a round trip (a transaction of ranges, within
// etcd's default of 128 operations): what a room list shows beside each
// room. Each range is in ascending key order with a limit, so etcd reads
// no more than it returns.
func (c *Client) NewestMessages(ctx context.Context, rooms []names.Room, limit int) (map[names.Room]MessagePage, error) {
	if limit <= 0 {
		limit = 1
	}
	const perTxn = 100
	out := make(map[names.Room]MessagePage, len(rooms))
	for start := 0; start < len(rooms); start += perTxn {
		batch := rooms[start:min(start+perTxn, len(rooms))]
		ops := make([]clientv3.Op, 0, len(batch))
		for _, r := range batch {
			p := msgPrefix(r)
			ops = append(ops, clientv3.OpGet(p, clientv3.WithRange(clientv3.GetPrefixRangeEnd(p)), clientv3.WithLimit(int64(limit))))
		}
		resp, stale, err := c.txnOrStale(ctx, ops)
		if err != nil {
			return nil, fmt.Errorf("read the newest messages of %d rooms: %w", len(batch), mapErr(err))
		}
		for i, r := range batch {
			rr := resp.Responses[i].GetResponseRange()
			p := msgPrefix(r)
			page := MessagePage{Revision: resp.Header.Revision, More: rr.More, Stale: stale, Messages: make([]RawMessage, 0, len(rr.Kvs))}
			for _, kv := range rr.Kvs {
				page.Messages = append(page.Messages, RawMessage{ID: strings.TrimPrefix(string(kv.Key), p), Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
			}
			if n := len(page.Messages); n > 0 {
				page.Next = page.Messages[n-1].ID
			}
			out[r] = page
		}
	}
	return out, nil
}
