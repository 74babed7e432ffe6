package store

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Reading without a quorum. A linearizable read needs the leader to
// confirm it is still the leader, so while a majority of voters is down
// every read fails. History is still there, on every member: reads that
// callers mark as able to fall back (getOrStale, txnOrStale) are retried
// serializable, answered by whichever member the client reaches from its
// own copy, which may be behind, and reported stale so that the reader
// can say so. Writes never fall back.

// staleGrace is how long reads keep failing for want of a leader before
// they fall back: an election (at most two election timeouts, 2 s with
// etcd's default timing) must not make a read stale.
const staleGrace = 2 * time.Second

// hintedTry bounds the linearizable try of a read made while the
// machine's member says the cluster has no quorum.
const hintedTry = 300 * time.Millisecond

// staleMemory is how long, after a read fell back, the next ones fall
// back at once on their first failure.
const staleMemory = 30 * time.Second

// staleState remembers that the cluster had no quorum recently.
type staleState struct {
	mu    sync.Mutex
	since time.Time // zero while the last read had a quorum
}

func (s *staleState) recent(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.since.IsZero() && now.Sub(s.since) < staleMemory
}

func (s *staleState) set(noQuorum bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if noQuorum {
		s.since = now
	} else {
		s.since = time.Time{}
	}
}

// NoQuorum reports whether a read of this client recently had to fall
// back to a member's own copy because the cluster had no quorum.
func (c *Client) NoQuorum() bool { return c.stale.recent(time.Now()) }

// readOrStale runs read linearizable, in bounded attempts that fail at
// once at a member with no leader, as c.retried does; once they have
// failed for staleGrace (or at once, if a read fell back recently) it
// runs read serializable, and reports stale if that succeeded. It keeps
// trying both until one succeeds or ctx ends.
func (c *Client) readOrStale(ctx context.Context, read func(ctx context.Context, serializable bool) error) (stale bool, err error) {
	start := time.Now()
	pause := 20 * time.Millisecond
	if c.quorumLost != nil && c.quorumLost() {
		// The hint may be a second late when the quorum comes back: one
		// short linearizable try first, which a healthy cluster answers,
		// unless a read of this client fell back already.
		if !c.stale.recent(start) {
			lctx, cancel := context.WithTimeout(ctx, hintedTry)
			err := read(clientv3.WithRequireLeader(lctx), false)
			cancel()
			if err == nil {
				c.stale.set(false, time.Now())
				return false, nil
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		serr := read(sctx, true)
		cancel()
		if serr == nil {
			c.stale.set(true, time.Now())
			return true, nil
		}
	}
	for {
		err = c.attempts.attempt(ctx, func(ctx context.Context) error { return read(ctx, false) })
		if err == nil {
			c.stale.set(false, time.Now())
			return false, nil
		}
		if ctx.Err() != nil || !(unavailable(err) || errors.Is(err, context.DeadlineExceeded)) {
			return false, err
		}
		now := time.Now()
		if now.Sub(start) >= staleGrace || c.stale.recent(now) {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			serr := read(sctx, true)
			cancel()
			if serr == nil {
				c.stale.set(true, time.Now())
				c.log.Info("no quorum: read a member's own copy", "after", time.Since(start).Round(time.Millisecond))
				return true, nil
			}
			if ctx.Err() != nil {
				return false, err
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// getOrStale is a Get that falls back to a serializable read.
func (c *Client) getOrStale(ctx context.Context, key string, opts ...clientv3.OpOption) (resp *clientv3.GetResponse, stale bool, err error) {
	stale, err = c.readOrStale(ctx, func(ctx context.Context, serializable bool) (err error) {
		o := opts
		if serializable {
			o = append(append([]clientv3.OpOption(nil), opts...), clientv3.WithSerializable())
		}
		resp, err = c.cli.Get(ctx, key, o...)
		return err
	})
	return resp, stale, err
}

// txnOrStale runs a read-only transaction of ops, falling back to a
// serializable one (etcd serves a transaction whose reads are all
// serializable from the member's own copy).
func (c *Client) txnOrStale(ctx context.Context, ops []clientv3.Op) (resp *clientv3.TxnResponse, stale bool, err error) {
	stale, err = c.readOrStale(ctx, func(ctx context.Context, serializable bool) (err error) {
		o := ops
		if serializable {
			o = make([]clientv3.Op, len(ops))
			for i, op := range ops {
				o[i] = serializableOp(op)
			}
		}
		resp, err = c.cli.Txn(ctx).Then(o...).Commit()
		return err
	})
	return resp, stale, err
}

// serializableOp returns a range op like op but serializable. Ops it
// cannot rebuild (not a range, or sorted) are returned as they are, which
// keeps the transaction linearizable.
func serializableOp(op clientv3.Op) clientv3.Op {
	if !op.IsGet() || op.IsSortSet() {
		return op
	}
	opts := []clientv3.OpOption{clientv3.WithSerializable()}
	if end := op.RangeBytes(); len(end) > 0 {
		opts = append(opts, clientv3.WithRange(string(end)))
	}
	if n := op.Limit(); n > 0 {
		opts = append(opts, clientv3.WithLimit(n))
	}
	if r := op.Rev(); r > 0 {
		opts = append(opts, clientv3.WithRev(r))
	}
	if op.IsKeysOnly() {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if op.IsCountOnly() {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if r := op.MinModRev(); r > 0 {
		opts = append(opts, clientv3.WithMinModRev(r))
	}
	if r := op.MaxModRev(); r > 0 {
		opts = append(opts, clientv3.WithMaxModRev(r))
	}
	if r := op.MinCreateRev(); r > 0 {
		opts = append(opts, clientv3.WithMinCreateRev(r))
	}
	if r := op.MaxCreateRev(); r > 0 {
		opts = append(opts, clientv3.WithMaxCreateRev(r))
	}
	return clientv3.OpGet(string(op.KeyBytes()), opts...)
}
