package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RoomState is everything about a room except its messages, read at one
// revision. Records are decoded but not verified: the chat layer decides
// which signatures count.
type RoomState struct {
	Name     string
	Room     *Signed[Room] // nil if the room does not exist
	Revision int64         // etcd revision the state was read at
	// VersionRev is the mod revision of the room's version key. Sends and
	// approvals are conditional on it, so they fail once a member left and
	// the key must rotate first.
	VersionRev int64
	Epochs     []*Signed[Epoch] // ascending epoch
	Wraps      []*Signed[Wrap]  // ascending epoch, then user
	Requests   []*Signed[Request]
	Denials    []*Signed[Denial]
	Left       []*Signed[Left]
	Bad        []BadRecord
}

// Rooms lists every room record, in byte order of name, with the revision
// they were read at.
func (c *Client) Rooms(ctx context.Context) (rooms []*Signed[Room], bad []BadRecord, rev int64, err error) {
	resp, err := c.cli.Get(ctx, roomsDir, clientv3.WithPrefix())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list rooms: %w", mapErr(err))
	}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		name := strings.TrimPrefix(key, roomsDir)
		if err := checkRoom(name); err != nil {
			bad = append(bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
			continue
		}
		r, err := decodeRoom(key, name, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			bad = append(bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: err})
			continue
		}
		rooms = append(rooms, r)
	}
	return rooms, bad, resp.Header.Revision, nil
}

// RoomState reads a room's record and state in one round trip. A missing
// room gives a RoomState with a nil Room and no error.
func (c *Client) RoomState(ctx context.Context, room string) (*RoomState, error) {
	if err := checkRoom(room); err != nil {
		return nil, err
	}
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(roomKey(room)),
		clientv3.OpGet(statePrefix(room), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read room %q: %w", room, mapErr(err))
	}
	st := &RoomState{Name: room, Revision: resp.Header.Revision}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		kv := kvs[0]
		r, err := decodeRoom(string(kv.Key), room, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			st.Bad = append(st.Bad, BadRecord{Key: string(kv.Key), Revision: kv.ModRevision, Err: err})
		} else {
			st.Room = r
		}
	}
	sp := statePrefix(room)
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		st.add(sp, string(kv.Key), kv.Value, kv.CreateRevision, kv.ModRevision)
	}
	return st, nil
}

func (st *RoomState) add(sp, key string, value []byte, cr, mr int64) {
	sk, err := parseStateKey(strings.TrimPrefix(key, sp))
	if err != nil {
		st.Bad = append(st.Bad, BadRecord{Key: key, Revision: mr, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
		return
	}
	rec, err := decodeState(key, sk, value, cr, mr)
	if err != nil {
		st.Bad = append(st.Bad, BadRecord{Key: key, Revision: mr, Err: err})
		return
	}
	switch r := rec.(type) {
	case nil:
		st.VersionRev = mr
	case *Signed[Epoch]:
		st.Epochs = append(st.Epochs, r)
	case *Signed[Wrap]:
		st.Wraps = append(st.Wraps, r)
	case *Signed[Request]:
		st.Requests = append(st.Requests, r)
	case *Signed[Denial]:
		st.Denials = append(st.Denials, r)
	case *Signed[Left]:
		st.Left = append(st.Left, r)
	}
}

func versionValue(epoch uint32, pending bool) string {
	v := strconv.FormatUint(uint64(epoch), 10)
	if pending {
		v += " rotate"
	}
	return v
}

// CreateRoom creates a room with its first epoch and the creator's (and, for
// a direct room, the peer's) key wraps, in one transaction that succeeds
// only if no room of that name exists. ErrExists means the name is taken;
// the caller can compare the existing record to tell a retried create.
func (c *Client) CreateRoom(ctx context.Context, s Signer, r Room, ep Epoch, wraps []Wrap) (*Signed[Room], error) {
	if err := checkRoom(r.Name); err != nil {
		return nil, err
	}
	if ep.Epoch != 1 {
		return nil, fmt.Errorf("create room %q: first epoch must be 1", r.Name)
	}
	key := roomKey(r.Name)
	rv, err := seal(KindRoom, key, r, s)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpPut(key, string(rv)), clientv3.OpPut(versionKey(r.Name), versionValue(1, false))}
	ev, err := seal(KindEpoch, epochKey(r.Name, 1), ep, s)
	if err != nil {
		return nil, err
	}
	ops = append(ops, clientv3.OpPut(epochKey(r.Name, 1), string(ev)))
	for _, w := range wraps {
		if err := checkUser(w.User); err != nil {
			return nil, err
		}
		k := wrapKey(r.Name, 1, w.User)
		wv, err := seal(KindWrap, k, w, s)
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(k, string(wv)))
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(ops...).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("create room %q: %w", r.Name, mapErr(err))
	}
	if resp.Succeeded {
		return decodeRoom(key, r.Name, rv, resp.Header.Revision, resp.Header.Revision)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, fmt.Errorf("create room %q: %w", r.Name, ErrConflict)
	}
	existing, derr := decodeRoom(key, r.Name, kvs[0].Value, kvs[0].CreateRevision, kvs[0].ModRevision)
	if derr != nil {
		return nil, fmt.Errorf("create room %q: %w (existing record: %v)", r.Name, ErrExists, derr)
	}
	return existing, fmt.Errorf("create room %q: %w", r.Name, ErrExists)
}

// PutRequest files s's request to join room, replacing an earlier denial.
// It fails with ErrExists if a request is already pending.
func (c *Client) PutRequest(ctx context.Context, s Signer, room string, req Request) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	k := requestKey(room, req.User)
	v, err := seal(KindRequest, k, req, s)
	if err != nil {
		return err
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(v)), clientv3.OpDelete(denialKey(room, req.User))).
		Commit()
	if err != nil {
		return fmt.Errorf("request to join %q: %w", room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("request to join %q: %w", room, ErrExists)
	}
	return nil
}

// DeleteRequest withdraws user's pending request, if any.
func (c *Client) DeleteRequest(ctx context.Context, room, user string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	if err := checkUser(user); err != nil {
		return err
	}
	if _, err := c.cli.Delete(ctx, requestKey(room, user)); err != nil {
		return fmt.Errorf("withdraw request to %q: %w", room, mapErr(err))
	}
	return nil
}

// Approve grants a pending request: in one transaction it stores the
// newcomer's wrap for the current epoch and deletes the request, provided
// the request is unchanged, the approver still holds a wrap for that epoch
// and has not left, and the room's version is unchanged (no leave or
// rotation in between). ErrConflict means one of those changed: re-read.
func (c *Client) Approve(ctx context.Context, s Signer, room string, req *Signed[Request], versionRev int64, w Wrap) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	if err := checkUser(w.User); err != nil {
		return err
	}
	k := wrapKey(room, w.Epoch, w.User)
	v, err := seal(KindWrap, k, w, s)
	if err != nil {
		return err
	}
	rk := requestKey(room, w.User)
	resp, err := c.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.ModRevision(rk), "=", req.ModRevision),
			clientv3.Compare(clientv3.CreateRevision(k), "=", 0),
			clientv3.Compare(clientv3.ModRevision(versionKey(room)), "=", versionRev),
			clientv3.Compare(clientv3.CreateRevision(wrapKey(room, w.Epoch, s.Name())), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(leftKey(room, w.Epoch, s.Name())), "=", 0),
		).
		Then(clientv3.OpPut(k, string(v)), clientv3.OpDelete(rk)).
		Commit()
	if err != nil {
		return fmt.Errorf("approve %q in %q: %w", w.User, room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("approve %q in %q: %w", w.User, room, ErrConflict)
	}
	return nil
}

// Deny refuses a pending request: it records the denial and deletes the
// request, provided the request is unchanged.
func (c *Client) Deny(ctx context.Context, s Signer, room string, req *Signed[Request], d Denial) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	if err := checkUser(d.User); err != nil {
		return err
	}
	k := denialKey(room, d.User)
	v, err := seal(KindDenial, k, d, s)
	if err != nil {
		return err
	}
	rk := requestKey(room, d.User)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(rk), "=", req.ModRevision)).
		Then(clientv3.OpPut(k, string(v)), clientv3.OpDelete(rk)).
		Commit()
	if err != nil {
		return fmt.Errorf("deny %q in %q: %w", d.User, room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("deny %q in %q: %w", d.User, room, ErrConflict)
	}
	return nil
}

// PutLeft records that l.User stops being a member in epoch l.Epoch and
// bumps the room version, so no member sends under that epoch's key again
// before it is rotated. It succeeds only if l.Epoch is still the newest
// epoch and no departure of that user is recorded for it.
func (c *Client) PutLeft(ctx context.Context, s Signer, room string, l Left) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	if err := checkUser(l.User); err != nil {
		return err
	}
	k := leftKey(room, l.Epoch, l.User)
	v, err := seal(KindLeft, k, l, s)
	if err != nil {
		return err
	}
	resp, err := c.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(k), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(epochKey(room, l.Epoch)), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(epochKey(room, l.Epoch+1)), "=", 0),
		).
		Then(clientv3.OpPut(k, string(v)), clientv3.OpPut(versionKey(room), versionValue(l.Epoch, true))).
		Commit()
	if err != nil {
		return fmt.Errorf("record departure of %q from %q: %w", l.User, room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("record departure of %q from %q: %w", l.User, room, ErrConflict)
	}
	return nil
}

// Rotate starts epoch ep.Epoch with a wrap for each remaining member, in one
// transaction that succeeds only if the room version is unchanged and the
// epoch does not exist yet: of two members rotating at once, one wins.
func (c *Client) Rotate(ctx context.Context, s Signer, room string, versionRev int64, ep Epoch, wraps []Wrap) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	ek := epochKey(room, ep.Epoch)
	ev, err := seal(KindEpoch, ek, ep, s)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(ek, string(ev)), clientv3.OpPut(versionKey(room), versionValue(ep.Epoch, false))}
	for _, w := range wraps {
		if err := checkUser(w.User); err != nil {
			return err
		}
		k := wrapKey(room, ep.Epoch, w.User)
		wv, err := seal(KindWrap, k, w, s)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(k, string(wv)))
	}
	resp, err := c.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(ek), "=", 0),
			clientv3.Compare(clientv3.ModRevision(versionKey(room)), "=", versionRev),
		).
		Then(ops...).
		Commit()
	if err != nil {
		return fmt.Errorf("rotate %q to epoch %d: %w", room, ep.Epoch, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("rotate %q to epoch %d: %w", room, ep.Epoch, ErrConflict)
	}
	return nil
}

// RoomsRevision returns the store's current revision, read with a
// linearizable Get of one key that is never written (so nothing is
// scanned): watch the rooms from it + 1 to miss no room created later.
func (c *Client) RoomsRevision(ctx context.Context) (int64, error) {
	resp, err := c.cli.Get(ctx, roomsDir, clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", mapErr(err))
	}
	return resp.Header.Revision, nil
}
