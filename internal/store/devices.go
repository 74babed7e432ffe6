package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// A user's devices, and the links that add them:
//
//	/parley/v2/devices/<user>/<device>    a device certificate, signed by the user's identity, create-only
//	/parley/v2/revoked/<user>/<device>    a device's revocation, signed by the user's identity, create-only
//	/parley/v2/links/<user>/<link>        a new device's link request (MACed with the link code), leased
//	/parley/v2/links/<user>/<link>.ok     the answer of the device that approved it (MACed), leased
//
// A user's first device is their identity itself and needs no certificate.
const (
	devicesDir = Prefix + "devices/"
	revokesDir = Prefix + "revoked/"
	linksDir   = Prefix + "links/"
)

// Record kinds of devices.
const (
	KindDevice = "device"
	KindRevoke = "revoke"
)

// Device certifies one device's keys for a user: signed by the user's
// identity key (or by their recovery key, Via "recovery").
type Device struct {
	User       string    `json:"user"`
	ID         string    `json:"id"`
	SigningKey []byte    `json:"signing_key"`
	KEMKey     []byte    `json:"kem_key"`
	Label      string    `json:"label,omitempty"`
	Via        string    `json:"via,omitempty"`
	Created    time.Time `json:"created"`
}

// DeviceRevocation says a device of the user no longer speaks for them, signed
// by the user's identity key.
type DeviceRevocation struct {
	User string    `json:"user"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

func deviceKey(user names.User, id string) string { return devicesDir + string(user) + "/" + id }
func revokeKey(user names.User, id string) string { return revokesDir + string(user) + "/" + id }
func linkKey(user names.User, id string) string   { return linksDir + string(user) + "/" + id }

// maxDeviceLabel is the longest device label, in bytes.
const maxDeviceLabel = 64

func checkDevice(id string) error {
	if !validTag(id) {
		return fmt.Errorf("bad device id %q", id)
	}
	return nil
}

// recordDevice checks the user and device id a record names.
func recordDevice(user, id string) (names.User, error) {
	u, err := parseUser(user)
	if err != nil {
		return "", err
	}
	return u, checkDevice(id)
}

// DecodeDevice decodes the certificate of device id of user, as stored.
// It checks form only.
func DecodeDevice(user, id string, value []byte) (*Signed[Device], error) {
	u, err := recordDevice(user, id)
	if err != nil {
		return nil, err
	}
	return decodeDevice(deviceKey(u, id), user, id, value, 0, 0)
}

func decodeDevice(key, user, id string, value []byte, cr, mr int64) (*Signed[Device], error) {
	r, err := open[Device](KindDevice, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	b := r.Body
	if err := errors.Join(same(key, "user", b.User, user), same(key, "id", b.ID, id), same(key, "signer", r.Signer, user)); err != nil {
		return nil, err
	}
	if len(b.Label) > maxDeviceLabel {
		return nil, fmt.Errorf("%w at %s: label of %d bytes", ErrBadRecord, key, len(b.Label))
	}
	if b.Via != "" && b.Via != "recovery" {
		return nil, fmt.Errorf("%w at %s: certified via %q", ErrBadRecord, key, b.Via)
	}
	return r, nil
}

func decodeDeviceRevocation(key, user, id string, value []byte, cr, mr int64) (*Signed[DeviceRevocation], error) {
	r, err := open[DeviceRevocation](KindRevoke, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(same(key, "user", r.Body.User, user), same(key, "id", r.Body.ID, id), same(key, "signer", r.Signer, user)); err != nil {
		return nil, err
	}
	return r, nil
}

// PutDevice stores a device certificate, create-only. Writing the same
// bytes again succeeds (a retried write); other bytes fail with ErrExists.
func (c *Client) PutDevice(ctx context.Context, s Signer, d Device) error {
	u, err := recordDevice(d.User, d.ID)
	if err != nil {
		return err
	}
	if len(d.Label) > maxDeviceLabel {
		return fmt.Errorf("device label is %d bytes, at most %d", len(d.Label), maxDeviceLabel)
	}
	v, err := EncodeDevice(s, d)
	if err != nil {
		return err
	}
	return c.putOnce(ctx, deviceKey(u, d.ID), v, "store device "+d.ID)
}

// EncodeDevice returns the certificate record of d, signed by s, as
// PutDevice stores it.
func EncodeDevice(s Signer, d Device) ([]byte, error) {
	u, err := recordDevice(d.User, d.ID)
	if err != nil {
		return nil, err
	}
	return seal(KindDevice, deviceKey(u, d.ID), d, s)
}

// PutRevocation stores a device's revocation, create-only.
func (c *Client) PutRevocation(ctx context.Context, s Signer, r DeviceRevocation) error {
	u, err := recordDevice(r.User, r.ID)
	if err != nil {
		return err
	}
	k := revokeKey(u, r.ID)
	v, err := seal(KindRevoke, k, r, s)
	if err != nil {
		return err
	}
	err = c.putOnce(ctx, k, v, "revoke device "+r.ID)
	if errors.Is(err, ErrExists) {
		return nil // revoked before: the first revocation stands
	}
	return err
}

// putOnce writes v at k create-only; the same bytes already there count as
// written (a retried write that went through).
func (c *Client) putOnce(ctx context.Context, k string, v []byte, what string) error {
	var resp *clientv3.TxnResponse
	err := c.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, string(v))).
			Else(clientv3.OpGet(k)).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 && string(kvs[0].Value) == string(v) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, ErrExists)
}

// Device reads one device certificate; ErrNotFound if there is none. Its
// signature is not yet verified.
func (c *Client) Device(ctx context.Context, user names.User, id string) (*Signed[Device], error) {
	if err := checkDevice(id); err != nil {
		return nil, err
	}
	k := deviceKey(user, id)
	resp, _, err := c.getOrStale(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("read device %s of %s: %w", id, user, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("device %s of %s: %w", id, user, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return decodeDevice(k, string(user), id, kv.Value, kv.CreateRevision, kv.ModRevision)
}

// UserDevices is what etcd holds of a user's devices: certificates and
// revocations by device id, not yet verified, and records that did not
// decode.
type UserDevices struct {
	Certs   map[string]*Signed[Device]
	Revoked map[string]*Signed[DeviceRevocation]
	Bad     []BadRecord
}

// Devices reads all of user's device certificates and revocations in one
// round trip.
func (c *Client) Devices(ctx context.Context, user names.User) (*UserDevices, error) {
	dp, rp := devicesDir+string(user)+"/", revokesDir+string(user)+"/"
	resp, _, err := c.txnOrStale(ctx, []clientv3.Op{
		clientv3.OpGet(dp, clientv3.WithPrefix()),
		clientv3.OpGet(rp, clientv3.WithPrefix()),
	})
	if err != nil {
		return nil, fmt.Errorf("read devices of %s: %w", user, mapErr(err))
	}
	out := &UserDevices{Certs: make(map[string]*Signed[Device]), Revoked: make(map[string]*Signed[DeviceRevocation])}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		k := string(kv.Key)
		id := strings.TrimPrefix(k, dp)
		d, err := decodeDevice(k, string(user), id, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			out.Bad = append(out.Bad, BadRecord{Key: k, Revision: kv.ModRevision, Err: err})
			continue
		}
		out.Certs[id] = d
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		k := string(kv.Key)
		id := strings.TrimPrefix(k, rp)
		r, err := decodeDeviceRevocation(k, string(user), id, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			out.Bad = append(out.Bad, BadRecord{Key: k, Revision: kv.ModRevision, Err: err})
			continue
		}
		out.Revoked[id] = r
	}
	return out, nil
}

// maxLinkRecord bounds a link request or answer.
const maxLinkRecord = 8 << 10

func checkLink(id string) error {
	if !validTag(id) {
		return fmt.Errorf("bad link id %q", id)
	}
	return nil
}

// PutLink stores a new device's link request, create-only, for ttl.
func (c *Client) PutLink(ctx context.Context, user names.User, id string, value []byte, ttl time.Duration) error {
	return c.putLeased(ctx, user, id, "", value, ttl, "store link request")
}

// PutLinkAnswer stores the answer to link request id, create-only, for ttl.
func (c *Client) PutLinkAnswer(ctx context.Context, user names.User, id string, value []byte, ttl time.Duration) error {
	return c.putLeased(ctx, user, id, ".ok", value, ttl, "store link answer")
}

func (c *Client) putLeased(ctx context.Context, user names.User, id, suffix string, value []byte, ttl time.Duration, what string) error {
	if err := checkLink(id); err != nil {
		return err
	}
	if len(value) > maxLinkRecord {
		return fmt.Errorf("%s: %d bytes", what, len(value))
	}
	k := linkKey(user, id) + suffix
	var resp *clientv3.TxnResponse
	err := c.retried(ctx, func(ctx context.Context) error {
		lease, err := c.cli.Grant(ctx, int64(ttl/time.Second)+1)
		if err != nil {
			return err
		}
		resp, err = c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, string(value), clientv3.WithLease(lease.ID))).
			Else(clientv3.OpGet(k)).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 && string(kvs[0].Value) == string(value) {
			return nil
		}
		return fmt.Errorf("%s: %w", what, ErrExists)
	}
	return nil
}

// Link reads link request id of user; ErrNotFound if none (or expired).
func (c *Client) Link(ctx context.Context, user names.User, id string) ([]byte, error) {
	if err := checkLink(id); err != nil {
		return nil, err
	}
	resp, err := c.cli.Get(ctx, linkKey(user, id))
	if err != nil {
		return nil, fmt.Errorf("read link request: %w", mapErr(err))
	}
	if len(resp.Kvs) == 0 || len(resp.Kvs[0].Value) > maxLinkRecord {
		return nil, fmt.Errorf("link request: %w", ErrNotFound)
	}
	return resp.Kvs[0].Value, nil
}

// WaitLinkAnswer waits until the answer to link request id appears (or is
// there already) and returns it, until ctx ends.
func (c *Client) WaitLinkAnswer(ctx context.Context, user names.User, id string) ([]byte, error) {
	if err := checkLink(id); err != nil {
		return nil, err
	}
	k := linkKey(user, id) + ".ok"
	pause := 50 * time.Millisecond
	for {
		resp, err := c.cli.Get(ctx, k)
		if err == nil {
			if len(resp.Kvs) > 0 {
				return resp.Kvs[0].Value, nil
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := c.cli.Watch(wctx, k, clientv3.WithRev(resp.Header.Revision+1))
			for wr := range wch {
				if wr.Err() != nil {
					break
				}
				for _, ev := range wr.Events {
					if ev.Type == clientv3.EventTypePut {
						cancel()
						return ev.Kv.Value, nil
					}
				}
			}
			cancel()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for the link to be approved: %w", mapErr(ctx.Err()))
		}
		if err != nil && !unavailable(err) {
			return nil, fmt.Errorf("wait for the link to be approved: %w", mapErr(err))
		}
		// The watch broke (a lost leader, compaction): look again.
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, time.Second)
	}
}

// DeleteLink removes link request id and its answer.
func (c *Client) DeleteLink(ctx context.Context, user names.User, id string) error {
	if err := checkLink(id); err != nil {
		return err
	}
	k := linkKey(user, id)
	_, err := c.cli.Txn(ctx).Then(clientv3.OpDelete(k), clientv3.OpDelete(k+".ok")).Commit()
	if err != nil {
		return fmt.Errorf("remove link request: %w", mapErr(err))
	}
	return nil
}

// A user's identity changes (rotations), each signed by the identity
// before it, hash-linked to it, create-only:
//
//	/parley/v2/rekeys/<user>/<n>    the user's n-th identity after the first (n from 1)
const rekeysDir = Prefix + "rekeys/"

// KindRekey is the record kind of an identity change.
const KindRekey = "rekey"

// Rekey replaces a user's identity keys: signed by the identity before it
// (the user record's for N 1), naming that one's record digest as Prev.
type Rekey struct {
	User       string    `json:"user"`
	N          uint64    `json:"n"`
	Prev       []byte    `json:"prev"`
	SigningKey []byte    `json:"signing_key"`
	KEMKey     []byte    `json:"kem_key"`
	Time       time.Time `json:"time"`
}

func rekeyKey(user names.User, n uint64) string {
	return rekeysDir + string(user) + "/" + commitStr(n)
}

func decodeRekey(key, user string, n uint64, value []byte, cr, mr int64) (*Signed[Rekey], error) {
	r, err := open[Rekey](KindRekey, key, value, cr, mr)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(same(key, "user", r.Body.User, user), same(key, "number", r.Body.N, n), same(key, "signer", r.Signer, user)); err != nil {
		return nil, err
	}
	return r, nil
}

// PutRekey stores an identity change, signed by s (the identity before
// it), create-only; the same bytes again succeed.
func (c *Client) PutRekey(ctx context.Context, s Signer, r Rekey) error {
	u, err := parseUser(r.User)
	if err != nil {
		return err
	}
	if r.N == 0 {
		return errors.New("identity changes are numbered from 1")
	}
	k := rekeyKey(u, r.N)
	v, err := seal(KindRekey, k, r, s)
	if err != nil {
		return err
	}
	return c.putOnce(ctx, k, v, fmt.Sprintf("store identity change %d of %s", r.N, r.User))
}

// Identity is what etcd holds of one user's identity: their record and
// its changes, in order, not yet verified. A change that does not decode
// ends the list, with the reason in Bad.
type Identity struct {
	User   *Signed[User]
	Rekeys []*Signed[Rekey]
	Bad    error
}

// Identities reads the records and identity changes of several users, in
// one round trip per 64. Missing names are absent from both maps.
func (c *Client) Identities(ctx context.Context, list []names.User) (found map[string]*Identity, bad map[string]error, err error) {
	found = make(map[string]*Identity, len(list))
	bad = make(map[string]error)
	ops := make([]clientv3.Op, 0, 2*len(list))
	for _, n := range list {
		ops = append(ops, clientv3.OpGet(userKey(n)), clientv3.OpGet(rekeysDir+string(n)+"/", clientv3.WithPrefix()))
	}
	for start := 0; start < len(ops); start += 128 {
		end := min(start+128, len(ops))
		resp, _, err := c.txnOrStale(ctx, ops[start:end])
		if err != nil {
			return nil, nil, fmt.Errorf("read users: %w", mapErr(err))
		}
		for i := 0; i+1 < len(resp.Responses); i += 2 {
			name := string(list[(start+i)/2])
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue
			}
			kv := kvs[0]
			u, err := decodeUser(string(kv.Key), name, kv.Value, kv.CreateRevision, kv.ModRevision)
			if err != nil {
				bad[name] = err
				continue
			}
			id := &Identity{User: u}
			p := rekeysDir + name + "/"
			for j, kv := range resp.Responses[i+1].GetResponseRange().Kvs {
				k := string(kv.Key)
				n, err := parseCommitKey(strings.TrimPrefix(k, p))
				if err == nil && n != uint64(j+1) {
					err = fmt.Errorf("%w at %s: identity change %d is missing", ErrBadRecord, k, j+1)
				}
				var r *Signed[Rekey]
				if err == nil {
					r, err = decodeRekey(k, name, n, kv.Value, kv.CreateRevision, kv.ModRevision)
				}
				if err != nil {
					id.Bad = err
					break
				}
				id.Rekeys = append(id.Rekeys, r)
			}
			found[name] = id
		}
	}
	return found, bad, nil
}
