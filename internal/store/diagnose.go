package store

import (
	"context"
	"errors"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// diagnoseTimeout bounds the probe of Diagnose. A member that has a leader
// answers a serializable read from its own state, without a round of
// raft, so a healthy but busy cluster answers well within it.
const diagnoseTimeout = 2 * time.Second

// Diagnose tells a cluster that is down from one that is merely slow.
// Given an error that is ErrUnavailable, it reads one key serializably, as
// a member answers from its own state, requiring a leader: if the read
// succeeds within a couple of seconds, the cluster has a leader and
// answers, so the operation failed for want of time, and Diagnose returns
// the error as ErrSlow (and still ErrUnavailable). Otherwise, and for any
// other error, it returns err unchanged. ctx bounds the probe too.
func (c *Client) Diagnose(ctx context.Context, err error) error {
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrSlow) || errors.Is(err, context.Canceled) {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	if _, perr := c.cli.Get(clientv3.WithRequireLeader(pctx), Prefix, clientv3.WithSerializable()); perr != nil {
		return err
	}
	return &slowError{err: err}
}

// slowError is an unavailable error found to be a slow cluster's.
type slowError struct{ err error }

// Error says "slow" where the error said "unavailable", keeping the rest
// of its text (what was being done, and etcd's words).
func (e *slowError) Error() string {
	s := e.err.Error()
	if strings.Contains(s, ErrUnavailable.Error()) {
		return strings.Replace(s, ErrUnavailable.Error(), ErrSlow.Error(), 1)
	}
	return ErrSlow.Error() + ": " + s
}

func (e *slowError) Unwrap() []error { return []error{ErrSlow, e.err} }
