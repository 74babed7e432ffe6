package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Machine is a machine admitted to the cluster.
type Machine struct {
	// Name is the machine's name in the cluster, and its etcd member's.
	Name     string `json:"name"`
	Role     string `json:"role"`
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
	// Serial is its certificate's serial, in hexadecimal.
	Serial string    `json:"serial"`
	Invite string    `json:"invite,omitempty"`
	Joined time.Time `json:"joined"`
	// JoinURLs are the invitation endpoints it serves (members only), as
	// host:port.
	JoinURLs []string `json:"join_urls,omitempty"`
}

// Revocation is a revoked certificate.
type Revocation struct {
	Serial  string    `json:"serial"`
	Name    string    `json:"name"`
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason,omitempty"`
	Removed bool      `json:"removed,omitempty"`
}

func machineKey(name string) string   { return machinesDir + name }
func revokedKey(serial string) string { return revokedDir + serial }

// checkMachine checks a machine name: machine names follow the rules of
// user names (1 to 32 letters, digits, '-', '_' or '.', canonical).
func checkMachine(name string) error {
	_, err := parseUser(name)
	return err
}

// validSerial accepts certificate serials as node.SerialString writes
// them: lowercase hexadecimal, at most 160 bits.
func validSerial(s string) bool {
	return len(s) > 0 && len(s) <= 40 && strings.Trim(s, "0123456789abcdef") == ""
}

func decodeMachine(key string, v []byte) (Machine, error) {
	var m Machine
	if err := json.Unmarshal(v, &m); err != nil {
		return Machine{}, fmt.Errorf("%w: machine %s: %v", ErrBadRecord, key, err)
	}
	if machineKey(m.Name) != key || checkMachine(m.Name) != nil || !validSerial(m.Serial) {
		return Machine{}, fmt.Errorf("%w: machine %s: bad name or serial", ErrBadRecord, key)
	}
	return m, nil
}

func decodeRevocation(key string, v []byte) (Revocation, error) {
	var r Revocation
	if err := json.Unmarshal(v, &r); err != nil {
		return Revocation{}, fmt.Errorf("%w: revocation %s: %v", ErrBadRecord, key, err)
	}
	if revokedKey(r.Serial) != key || !validSerial(r.Serial) {
		return Revocation{}, fmt.Errorf("%w: revocation %s: bad serial", ErrBadRecord, key)
	}
	return r, nil
}

// PutMachine writes machine m's record (created or replaced).
func (c *Client) PutMachine(ctx context.Context, m Machine) error {
	if err := checkMachine(m.Name); err != nil {
		return err
	}
	if !validSerial(m.Serial) {
		return fmt.Errorf("record machine %q: bad serial %q", m.Name, m.Serial)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	err = c.retried(ctx, func(ctx context.Context) error {
		_, err := c.cli.Put(ctx, machineKey(m.Name), string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("record machine %q: %w", m.Name, mapErr(err))
	}
	return nil
}

// Machines lists the machines admitted, by name. A serializable read
// (any member's copy) when serializable is set: cluster status uses it
// while the cluster has no quorum.
func (c *Client) Machines(ctx context.Context, serializable bool) ([]Machine, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := c.cli.Get(ctx, machinesDir, opts...)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", mapErr(err))
	}
	var out []Machine
	for _, kv := range resp.Kvs {
		m, err := decodeMachine(string(kv.Key), kv.Value)
		if err != nil {
			c.log.Warn("skipping a malformed machine record", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Machine) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RevokeMachine revokes the certificate of machine name and deletes its
// record, in one transaction: from then on every member refuses the
// certificate. ErrNotFound if there is no such machine.
func (c *Client) RevokeMachine(ctx context.Context, name, reason string) (Machine, error) {
	if err := checkMachine(name); err != nil {
		return Machine{}, err
	}
	k := machineKey(name)
	for {
		resp, err := c.cli.Get(ctx, k)
		if err != nil {
			return Machine{}, fmt.Errorf("revoke machine %q: %w", name, mapErr(err))
		}
		if len(resp.Kvs) == 0 {
			return Machine{}, fmt.Errorf("machine %q: %w", name, ErrNotFound)
		}
		m, err := decodeMachine(k, resp.Kvs[0].Value)
		if err != nil {
			return Machine{}, err
		}
		rb, err := json.Marshal(Revocation{Serial: m.Serial, Name: m.Name, Time: time.Now().UTC(), Reason: reason, Removed: true})
		if err != nil {
			return Machine{}, err
		}
		tr, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(revokedKey(m.Serial), string(rb)), clientv3.OpDelete(k)).
			Commit()
		if err != nil {
			return Machine{}, fmt.Errorf("revoke machine %q: %w", name, mapErr(err))
		}
		if tr.Succeeded {
			return m, nil
		}
	}
}

// Revocations lists the revoked certificates and the revision read.
func (c *Client) Revocations(ctx context.Context) ([]Revocation, int64, error) {
	resp, err := c.cli.Get(ctx, revokedDir, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, 0, fmt.Errorf("list revoked certificates: %w", mapErr(err))
	}
	var out []Revocation
	for _, kv := range resp.Kvs {
		r, err := decodeRevocation(string(kv.Key), kv.Value)
		if err != nil {
			c.log.Warn("skipping a malformed revocation", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, resp.Header.Revision, nil
}

// WatchRevocations calls changed after every change to the revoked
// certificates from revision from on, until ctx ends. It returns when
// ctx ends or the watch fails; the caller lists again and watches anew.
func (c *Client) WatchRevocations(ctx context.Context, from int64, changed func()) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range c.cli.Watch(wctx, revokedDir, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return mapErr(err)
		}
		if len(resp.Events) > 0 {
			changed()
		}
	}
	return ctx.Err()
}
