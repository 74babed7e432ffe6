package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// presenceKey is user's presence key (see presenceDir).
func presenceKey(user string) string { return presenceDir + user }

// Purge deletes, in one transaction, every key of the rooms named (the
// room record, its state and its messages) and of the users named (the
// user record and presence). It is for throwaway data that one program
// wrote and owns, such as `parley bench`'s rooms and users: deleting a
// room or user that others still use breaks their view of it. Names that
// own no keys are no error.
func (c *Client) Purge(ctx context.Context, rooms, users []string) error {
	var ops []clientv3.Op
	for _, r := range rooms {
		if err := checkRoom(r); err != nil {
			return fmt.Errorf("purge room %q: %w", r, err)
		}
		ops = append(ops, clientv3.OpDelete(roomKey(r)), clientv3.OpDelete(roomPrefix(r), clientv3.WithPrefix()))
	}
	for _, u := range users {
		if err := checkUser(u); err != nil {
			return fmt.Errorf("purge user %q: %w", u, err)
		}
		ops = append(ops, clientv3.OpDelete(userKey(u)), clientv3.OpDelete(presenceKey(u)))
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("purge %d rooms and %d users: %w", len(rooms), len(users), mapErr(err))
	}
	return nil
}
