package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// presenceKey is user's presence key (see presenceDir).
func presenceKey(user names.User) string { return presenceDir + string(user) }

// Purge deletes, in one transaction, every key of the rooms named (the
// room record, its chain, wraps, requests, messages and head hint) and of
// the users named (the user record, presence and room-list hints). It is for throwaway data that one program
// wrote and owns, such as `parley bench`'s rooms and users: deleting a
// room or user that others still use breaks their view of it. Names that
// own no keys are no error.
func (c *Client) Purge(ctx context.Context, rooms []names.Room, users []names.User) error {
	var ops []clientv3.Op
	for _, r := range rooms {
		// The room-list hints of everyone its chain ever named.
		resp, err := c.cli.Get(ctx, commitPrefix(r), clientv3.WithPrefix())
		if err != nil {
			return fmt.Errorf("purge room %q: %w", r, mapErr(err))
		}
		named := make(map[names.User]bool)
		for _, kv := range resp.Kvs {
			var w struct {
				Body struct {
					Users []Entry `json:"users"`
				} `json:"body"`
			}
			if json.Unmarshal(kv.Value, &w) != nil {
				continue
			}
			for _, e := range w.Body.Users {
				if u, err := parseUser(e.User); err == nil && !named[u] {
					named[u] = true
					ops = append(ops, clientv3.OpDelete(hintKey(u, r)))
				}
			}
		}
		ops = append(ops, clientv3.OpDelete(roomKey(r)), clientv3.OpDelete(roomPrefix(r), clientv3.WithPrefix()), clientv3.OpDelete(headKey(r)))
	}
	for _, u := range users {
		ops = append(ops, clientv3.OpDelete(userKey(u)), clientv3.OpDelete(presenceKey(u)), clientv3.OpDelete(hintsDir+string(u)+"/", clientv3.WithPrefix()))
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("purge %d rooms and %d users: %w", len(rooms), len(users), mapErr(err))
	}
	return nil
}
