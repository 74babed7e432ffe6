package store

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Invitations to join the cluster of machines, and the machines admitted:
//
//	/parley/v2/invites/<id>                  an invitation: role, hash of its secret, expiry, uses
//	/parley/v2/cluster/machines/<name>       a machine admitted: role, certificate serial, where it serves invitations
//	/parley/v2/cluster/revoked/<serial>      a revoked certificate (a removed machine)
//
// These records are unsigned: whoever can write them already holds a
// certificate of the cluster, with which it can do anything in etcd. The
// secret of an invitation is never stored, only its hash, so reading the
// records does not let anyone join.
const (
	invitesDir  = Prefix + "invites/"
	machinesDir = Prefix + "cluster/machines/"
	revokedDir  = Prefix + "cluster/revoked/"
)

// Invitation errors, as a redemption finds them.
var (
	// ErrInviteUnknown means no invitation has this id and secret.
	ErrInviteUnknown = errors.New("no such invitation")
	// ErrInviteExpired means the invitation's time ran out.
	ErrInviteExpired = errors.New("invitation expired")
	// ErrInviteUsed means the invitation has no uses left.
	ErrInviteUsed = errors.New("invitation already used")
	// ErrInviteRevoked means the invitation was revoked.
	ErrInviteRevoked = errors.New("invitation revoked")
)

// Invite is an invitation as stored.
type Invite struct {
	ID         string    `json:"id"`
	Role       string    `json:"role"`
	SecretHash []byte    `json:"secret_hash"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Uses is how many machines it admits; Used how many it has.
	Uses      int      `json:"uses"`
	Used      int      `json:"used"`
	UsedBy    []string `json:"used_by,omitempty"`
	CreatedBy string   `json:"created_by,omitempty"`
	Revoked   bool     `json:"revoked,omitempty"`
}

// State describes the invitation at time now: "active", "used",
// "expired" or "revoked".
func (i Invite) State(now time.Time) string {
	switch {
	case i.Revoked:
		return "revoked"
	case i.Used >= i.Uses:
		return "used"
	case !now.Before(i.Expires):
		return "expired"
	}
	return "active"
}

func inviteKey(id string) string { return invitesDir + id }

func validInviteID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if ch := id[i]; !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return false
		}
	}
	return true
}

// decodeInvite decodes the record at key.
func decodeInvite(key string, v []byte) (Invite, error) {
	var inv Invite
	if err := json.Unmarshal(v, &inv); err != nil {
		return Invite{}, fmt.Errorf("%w: invitation %s: %v", ErrBadRecord, key, err)
	}
	if inviteKey(inv.ID) != key || !validInviteID(inv.ID) {
		return Invite{}, fmt.Errorf("%w: invitation %s names id %q", ErrBadRecord, key, inv.ID)
	}
	if inv.Uses < 1 || inv.Used < 0 || len(inv.SecretHash) != 32 {
		return Invite{}, fmt.Errorf("%w: invitation %s: bad uses or hash", ErrBadRecord, key)
	}
	return inv, nil
}

// PutInvite stores a new invitation, create-only.
func (c *Client) PutInvite(ctx context.Context, inv Invite) error {
	if !validInviteID(inv.ID) || inv.Uses < 1 || len(inv.SecretHash) != 32 {
		return fmt.Errorf("store invitation: bad invitation")
	}
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	k := inviteKey(inv.ID)
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("store invitation: %w", mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("store invitation %s: %w", inv.ID, ErrExists)
	}
	return nil
}

// Invites lists the invitations, oldest first. Malformed records are
// returned in bad.
func (c *Client) Invites(ctx context.Context) (invites []Invite, bad []BadRecord, err error) {
	resp, err := c.cli.Get(ctx, invitesDir, clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("list invitations: %w", mapErr(err))
	}
	for _, kv := range resp.Kvs {
		inv, err := decodeInvite(string(kv.Key), kv.Value)
		if err != nil {
			bad = append(bad, BadRecord{Key: string(kv.Key), Revision: kv.ModRevision, Err: err})
			continue
		}
		invites = append(invites, inv)
	}
	slices.SortFunc(invites, func(a, b Invite) int { return a.Created.Compare(b.Created) })
	return invites, bad, nil
}

// RevokeInvite marks an invitation revoked; ErrNotFound if there is none.
func (c *Client) RevokeInvite(ctx context.Context, id string) error {
	if !validInviteID(id) {
		return fmt.Errorf("revoke invitation %q: %w", id, ErrNotFound)
	}
	return c.updateInvite(ctx, id, func(inv *Invite) error {
		inv.Revoked = true
		return nil
	})
}

// DeleteInvite removes an invitation record.
func (c *Client) DeleteInvite(ctx context.Context, id string) error {
	if _, err := c.cli.Delete(ctx, inviteKey(id)); err != nil {
		return fmt.Errorf("delete invitation %s: %w", id, mapErr(err))
	}
	return nil
}

// updateInvite applies change to the invitation in a transaction
// conditional on the record read, reading again on a conflict.
func (c *Client) updateInvite(ctx context.Context, id string, change func(*Invite) error) error {
	k := inviteKey(id)
	for {
		resp, err := c.cli.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("invitation %s: %w", id, mapErr(err))
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("invitation %s: %w", id, ErrNotFound)
		}
		kv := resp.Kvs[0]
		inv, err := decodeInvite(k, kv.Value)
		if err != nil {
			return err
		}
		if err := change(&inv); err != nil {
			return err
		}
		b, err := json.Marshal(inv)
		if err != nil {
			return err
		}
		tr, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)).
			Then(clientv3.OpPut(k, string(b))).
			Commit()
		if err != nil {
			return fmt.Errorf("invitation %s: %w", id, mapErr(err))
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// Redeem consumes one use of invitation id, whose secret hashes to
// secretHash, and records machine m, in one transaction conditional on
// the invitation as read: two machines racing for the last use cannot
// both have it. The machine's name is m.Name, or m.Name-2, -3, ... if it
// is taken. It returns the invitation (before the use) and the machine as
// recorded. Errors: ErrInviteUnknown (no such id, or another secret),
// ErrInviteRevoked, ErrInviteExpired, ErrInviteUsed.
func (c *Client) Redeem(ctx context.Context, id string, secretHash []byte, now time.Time, m Machine) (Invite, Machine, error) {
	if !validInviteID(id) {
		return Invite{}, Machine{}, ErrInviteUnknown
	}
	if err := checkMachine(m.Name); err != nil {
		return Invite{}, Machine{}, err
	}
	k := inviteKey(id)
	for {
		resp, err := c.cli.Txn(ctx).Then(
			clientv3.OpGet(k),
			clientv3.OpGet(machinesDir, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		).Commit()
		if err != nil {
			return Invite{}, Machine{}, fmt.Errorf("redeem invitation: %w", mapErr(err))
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return Invite{}, Machine{}, ErrInviteUnknown
		}
		inv, err := decodeInvite(k, kvs[0].Value)
		if err != nil {
			return Invite{}, Machine{}, err
		}
		if subtle.ConstantTimeCompare(inv.SecretHash, secretHash) != 1 {
			return Invite{}, Machine{}, ErrInviteUnknown
		}
		switch inv.State(now) {
		case "revoked":
			return inv, Machine{}, ErrInviteRevoked
		case "used":
			return inv, Machine{}, ErrInviteUsed
		case "expired":
			return inv, Machine{}, ErrInviteExpired
		}
		taken := map[string]bool{}
		for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
			taken[strings.TrimPrefix(string(kv.Key), machinesDir)] = true
		}
		rec := m
		rec.Role, rec.Invite, rec.Joined = inv.Role, inv.ID, now.UTC()
		for i := 2; taken[rec.Name]; i++ {
			rec.Name = fmt.Sprintf("%s-%d", m.Name, i)
		}
		if err := checkMachine(rec.Name); err != nil {
			return Invite{}, Machine{}, err
		}
		before := inv
		inv.Used++
		inv.UsedBy = append(inv.UsedBy, rec.Name)
		ib, err := json.Marshal(inv)
		if err != nil {
			return Invite{}, Machine{}, err
		}
		mb, err := json.Marshal(rec)
		if err != nil {
			return Invite{}, Machine{}, err
		}
		mk := machineKey(rec.Name)
		tr, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", kvs[0].ModRevision),
				clientv3.Compare(clientv3.CreateRevision(mk), "=", 0)).
			Then(clientv3.OpPut(k, string(ib)), clientv3.OpPut(mk, string(mb))).
			Commit()
		if err != nil {
			return Invite{}, Machine{}, fmt.Errorf("redeem invitation: %w", mapErr(err))
		}
		if tr.Succeeded {
			return before, rec, nil
		}
		if ctx.Err() != nil {
			return Invite{}, Machine{}, ctx.Err()
		}
	}
}
