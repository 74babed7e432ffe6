package store

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Bounds of one attempt of a message write; see attemptTimer.
const (
	// MinWriteAttempt is the shortest bound, and the first one a new client
	// uses.
	MinWriteAttempt = 500 * time.Millisecond
	// maxWriteAttempt is the longest: etcd's own request timeout with its
	// default election timeout (5 s + 2 x 1 s) answers by then anyway.
	maxWriteAttempt = 7 * time.Second
	// forgiven is how many attempts in a row may run out before the bound
	// grows: together as long as the longest election with etcd's default
	// timing (twice its 1 s election timeout).
	forgiven = 4
)

// attemptTimer bounds each attempt of a message write, as TCP bounds a
// segment's retransmission (RFC 6298): the smoothed latency of the writes
// the cluster answered plus four times its deviation, at least
// MinWriteAttempt, and half as long again after each attempt in a row that
// ran out of time (past the first few), up to maxWriteAttempt.
//
// The bound exists because a proposal that a follower forwarded to a
// leader which then died is lost, and etcd answers it only after its
// request timeout (5 s + 2 election timeouts: 7 s with the defaults), so
// every send in flight at a leader crash would stall for 7 s. Message
// writes are idempotent: the caller retries with the same bytes, and an
// attempt that had committed after all is recognised then. Adapting it
// keeps a cluster whose writes are slow (members far apart) usable: after
// an attempt too short for it, the next ones are longer, then the latency
// it learns keeps them long enough.
type attemptTimer struct {
	mu      sync.Mutex
	srtt    time.Duration // smoothed latency of answered writes; 0 before the first
	rttvar  time.Duration // its smoothed mean deviation
	expired int           // attempts in a row that ran out of time
}

// bound returns the time the next attempt may take.
func (a *attemptTimer) bound() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := max(MinWriteAttempt, a.srtt+4*a.rttvar)
	// The first attempts to run out are forgiven: at a leader crash the
	// next ones, as short, land soon after the election.
	for range a.expired - forgiven {
		d += d / 2
		if d >= maxWriteAttempt {
			return maxWriteAttempt
		}
	}
	return min(d, maxWriteAttempt)
}

// observe records the end of an attempt that lasted took: ok for an
// answer from the cluster (whatever it said), expired when its bound ran
// out, neither for a cluster that could not answer (no leader, no
// connection), which says nothing of its latency.
func (a *attemptTimer) observe(took time.Duration, ok, expired bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case ok:
		// RFC 6298's estimator: the bound is the smoothed latency plus
		// four deviations, so a jump in latency widens it at once.
		a.expired = 0
		if a.srtt == 0 {
			a.srtt, a.rttvar = took, took/2
		} else {
			dev := a.srtt - took
			if dev < 0 {
				dev = -dev
			}
			a.rttvar += (dev - a.rttvar) / 4
			a.srtt += (took - a.srtt) / 8
		}
	case expired:
		a.expired = min(a.expired+1, 16)
	}
}

// attempt runs one attempt of an idempotent write: bounded by the timer,
// and refused at once by a member that knows it has no leader rather than
// queued there. write's error is returned as it is.
func (a *attemptTimer) attempt(ctx context.Context, write func(context.Context) error) error {
	actx, cancel := context.WithTimeout(ctx, a.bound())
	defer cancel()
	start := time.Now()
	err := write(clientv3.WithRequireLeader(actx))
	expired := err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
	a.observe(time.Since(start), err == nil || (!expired && !unavailable(err)), expired)
	return err
}

// unavailable reports an error that says nothing about the latency of a
// healthy cluster: no leader, no connection, a dropped proposal.
func unavailable(err error) bool {
	return errors.Is(mapErr(err), ErrUnavailable)
}

// retried runs an idempotent request in bounded attempts (see attempt)
// until the cluster answers it or ctx ends: a slow answer or a lost leader
// costs a retry, not the caller's whole deadline. Its error is the last
// attempt's.
func (c *Client) retried(ctx context.Context, op func(context.Context) error) error {
	pause := 20 * time.Millisecond
	for {
		err := c.attempts.attempt(ctx, op)
		if err == nil || ctx.Err() != nil || !(unavailable(err) || errors.Is(err, context.DeadlineExceeded)) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}
