package store

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// CreateUser claims u.Name for u's keys, create-only. If the name is
// already claimed, it returns the existing record with ErrExists, so the
// caller can tell its own earlier claim (same keys: a retried write) from
// somebody else's.
func (c *Client) CreateUser(ctx context.Context, s Signer, u User) (*Signed[User], error) {
	name, err := parseUser(u.Name)
	if err != nil {
		return nil, err
	}
	if s.Name() != u.Name {
		return nil, fmt.Errorf("claim user %q: signer is %q", u.Name, s.Name())
	}
	key := userKey(name)
	val, err := seal(KindUser, key, u, s)
	if err != nil {
		return nil, err
	}
	// Most logins find the name claimed already: a read, which works from
	// a member's own copy while the cluster has no quorum, tells so
	// without a write.
	if got, _, err := c.getOrStale(ctx, key); err == nil && len(got.Kvs) > 0 {
		kv := got.Kvs[0]
		existing, err := decodeUser(key, u.Name, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("claim user %q: existing record: %w", u.Name, err)
		}
		return existing, fmt.Errorf("claim user %q: %w", u.Name, ErrExists)
	}
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("claim user %q: %w", u.Name, mapErr(err))
	}
	if resp.Succeeded {
		return decodeUser(key, u.Name, val, resp.Header.Revision, resp.Header.Revision)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, fmt.Errorf("claim user %q: %w", u.Name, ErrConflict)
	}
	kv := kvs[0]
	existing, err := decodeUser(key, u.Name, kv.Value, kv.CreateRevision, kv.ModRevision)
	if err != nil {
		return nil, fmt.Errorf("claim user %q: existing record: %w", u.Name, err)
	}
	return existing, fmt.Errorf("claim user %q: %w", u.Name, ErrExists)
}

// User reads one user record. It returns ErrNotFound if the name is not
// claimed. The record's signature is not yet verified.
func (c *Client) User(ctx context.Context, name names.User) (*Signed[User], error) {
	key := userKey(name)
	resp, _, err := c.getOrStale(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read user %q: %w", name, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return decodeUser(key, string(name), kv.Value, kv.CreateRevision, kv.ModRevision)
}

// Users reads several user records in one round trip. Missing names are
// absent from both maps; malformed records are reported in bad, by name.
func (c *Client) Users(ctx context.Context, list []names.User) (found map[string]*Signed[User], bad map[string]error, err error) {
	found = make(map[string]*Signed[User], len(list))
	bad = make(map[string]error)
	if len(list) == 0 {
		return found, nil, nil
	}
	ops := make([]clientv3.Op, 0, len(list))
	for _, n := range list {
		ops = append(ops, clientv3.OpGet(userKey(n)))
	}
	// etcd limits the operations in one transaction (128 by default).
	for start := 0; start < len(ops); start += 128 {
		end := min(start+128, len(ops))
		resp, _, err := c.txnOrStale(ctx, ops[start:end])
		if err != nil {
			return nil, nil, fmt.Errorf("read users: %w", mapErr(err))
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				key := string(kv.Key)
				name := strings.TrimPrefix(key, usersDir)
				u, err := decodeUser(key, name, kv.Value, kv.CreateRevision, kv.ModRevision)
				if err != nil {
					bad[name] = err
					continue
				}
				found[name] = u
			}
		}
	}
	return found, bad, nil
}

// ListUsers returns every claimed user name, in byte order.
func (c *Client) ListUsers(ctx context.Context) ([]string, error) {
	resp, err := c.cli.Get(ctx, usersDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list users: %w", mapErr(err))
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n := strings.TrimPrefix(string(kv.Key), usersDir)
		if _, err := parseUser(n); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// BadRecord is a record in etcd that could not be decoded. It is reported,
// never silently skipped.
type BadRecord struct {
	Key      string
	Revision int64
	Err      error
}
