package chat

import (
	"encoding/json"
	"sync"
	"time"
)

// Pacing of RunOutbox.
const (
	// outboxPoll is how often a runner with nothing to deliver looks
	// whether another process (a one-off send) queued something in the
	// same outbox; what this process queues wakes it at once.
	outboxPoll = 5 * time.Second
	// outboxMaxRetry caps the pause between delivery rounds while the
	// cluster stays unavailable.
	outboxMaxRetry = 5 * time.Second
	// defaultOutboxWait is Options.OutboxWait's zero meaning.
	defaultOutboxWait = 5 * time.Second
)

// outboxRetry is the pause after n delivery rounds in a row that failed:
// 100 ms, doubling up to outboxMaxRetry.
func outboxRetry(n int) time.Duration {
	return min(100*time.Millisecond<<min(n, 6), outboxMaxRetry)
}

// outboxState is what this process knows of its outbox, so that a send
// asks no more of the disk than one write: which entries wait (an index
// built by one listing, then kept up to date by this process's own queueing
// and deliveries, and built again by every delivery round, which lists the
// outbox anyway), and whether the cluster answered the last attempt to
// reach it. Entries another process queues show up at the next round.
type outboxState struct {
	// deliver is held by the one delivery round of this process: the
	// Outbox's own lock may be per process only.
	deliver sync.Mutex

	mu      sync.Mutex // guards the fields below
	loaded  bool
	waiting map[string]bool // ids of entries to deliver (not failed)
	down    bool            // the last attempt to reach the cluster failed
	downAt  time.Time       // when it did
	last    time.Time       // the time in the newest id queued here
}

// waitingCount returns how many entries wait, listing the outbox the first
// time. An error listing it is returned, never taken for an empty outbox.
func (s *Service) waitingCount() (int, error) {
	q := &s.obq
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.loaded {
		all, err := s.outbox.List()
		if err != nil {
			return 0, err
		}
		q.resetLocked(all)
	}
	if n := len(q.waiting); n > 0 {
		return n, nil
	}
	// Another process of this home may have queued since: an outbox that
	// can tell cheaply says so, and this message then goes behind it, so
	// my messages reach the room in the order of my chain.
	if p, ok := s.outbox.(outboxPeeker); ok {
		empty, err := p.Empty()
		if err != nil {
			return 0, err
		}
		if !empty {
			return 1, nil
		}
	}
	return 0, nil
}

// outboxPeeker is an Outbox that tells, in O(1), whether it holds any
// entry, whoever queued it.
type outboxPeeker interface {
	Empty() (bool, error)
}

// listOutbox lists the outbox and rebuilds the index from it, holding the
// index meanwhile, so that an entry queued during the listing is in the
// index either way.
func (s *Service) listOutbox() (map[string][]byte, error) {
	q := &s.obq
	q.mu.Lock()
	defer q.mu.Unlock()
	all, err := s.outbox.List()
	if err != nil {
		return nil, err
	}
	q.resetLocked(all)
	return all, nil
}

func (q *outboxState) resetLocked(all map[string][]byte) {
	q.waiting = make(map[string]bool, len(all))
	for id, b := range all {
		var e outboxEntry
		// Damaged and failed entries stay for the user to see; they are
		// never delivered, so nothing waits on them.
		if json.Unmarshal(b, &e) == nil && e.Failed == "" {
			q.waiting[id] = true
		}
	}
	q.loaded = true
}

// queued records an entry this process put in the outbox.
func (q *outboxState) queued(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.loaded {
		q.waiting[id] = true
	}
}

// gone records an entry delivered, or failed for good.
func (q *outboxState) gone(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.waiting, id)
}

// setDown records whether the last attempt to reach the cluster failed.
func (q *outboxState) setDown(down bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if down && !q.down {
		q.downAt = time.Now()
	}
	q.down = down
}

func (q *outboxState) isDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.down
}

// downWithin reports whether the last attempt to reach the cluster failed,
// and the cluster has been failing for less than d.
func (q *outboxState) downWithin(d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.down && time.Since(q.downAt) < d
}

// stamp returns the time for the id of an entry queued at now: later than
// that of every entry queued before by this process, since the outbox is
// delivered in id order and a fast writer (send -) queues several
// messages within one tick of the clock.
func (q *outboxState) stamp(now time.Time) time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !now.After(q.last) {
		now = q.last.Add(time.Microsecond)
	}
	q.last = now
	return now
}
