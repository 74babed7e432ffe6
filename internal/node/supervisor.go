package node

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// A supervisor that could not promote its learner asks again after a
// jittered wait growing from about promoteFirst to promoteMax; while the
// cluster has its voters it looks again every fullRecheck or so, in case
// one goes (etcd notifies no membership change).
const (
	promoteFirst   = time.Second
	promoteMax     = 10 * time.Second
	fullRecheck    = 10 * time.Second
	promoteTimeout = time.Minute // one promotion, refused while the learner catches up
)

// SupervisorConfig says what a [Supervisor] does beside watching the
// leader.
type SupervisorConfig struct {
	// Admin reaches the cluster to promote the member while it is a
	// learner. Nil never promotes.
	Admin *Admin
	// MaxVoters is how many voting members the cluster may have: the
	// learner is promoted only while it has fewer. Below 1 never
	// promotes.
	MaxVoters int
	// Began is when the member's start began; [EventPromoted] says how
	// long after it the member was promoted. Zero means when Run began.
	Began time.Time
	// Report receives the supervisor's events, one at a time, in the
	// order they happened; nil discards them. It should return soon.
	Report func(Event)
}

// EventKind says what an [Event] reports.
type EventKind int

const (
	// EventLeader: the member knows a new leader (Leader, LeaderName,
	// Term), or none any more (Leader 0). The first event gives the
	// leader the member knew when Run began, if it knew one.
	EventLeader EventKind = iota + 1
	// EventPromoted: the supervisor made the learner a voting member,
	// After after Began; the cluster has Voters voting members with it.
	EventPromoted
	// EventPromotedElsewhere: the learner became a voting member, promoted
	// by another client.
	EventPromotedElsewhere
	// EventStayingLearner: the cluster has Voters voting members, at least
	// MaxVoters, so the learner stays one (it still replicates the data);
	// it is promoted if a voter goes.
	EventStayingLearner
	// EventNotPromoted: a promotion failed with Err and is tried again;
	// reported once for each new error.
	EventNotPromoted
)

// Event is one thing a [Supervisor] saw or did.
type Event struct {
	Kind       EventKind
	Leader     uint64 // EventLeader: the leader's ID, 0 for none
	LeaderName string // EventLeader: its name, if the member knows it
	Term       uint64 // EventLeader: the raft term
	Voters     int    // EventPromoted, EventStayingLearner
	MaxVoters  int    // EventStayingLearner
	After      time.Duration
	Err        error // EventNotPromoted
}

// Supervisor looks after a running member: it reports every change of
// leader the member sees and, for a learner given an [Admin], promotes it
// to a voting member once it has caught up, if the cluster has room for
// another voter.
//
// It is driven by etcd's notifications, not by polling: a new leader is
// reported when etcd elects one, and the learner is first promoted once
// it has applied all it knows to be committed. etcd notifies neither the
// loss of a leader nor a change of membership; the supervisor looks for
// the first once per election timeout (the time raft itself takes to
// notice it) and, while the cluster has all its voters, for the second
// every ten seconds or so. Failed promotions are retried with jittered
// backoff, each bounded by a minute.
type Supervisor struct {
	n   *Node
	cfg SupervisorConfig

	reportMu sync.Mutex // one Report at a time

	mu      sync.Mutex
	stopped bool
	cancels map[*context.CancelFunc]struct{}
	runs    sync.WaitGroup
}

// NewSupervisor returns a supervisor of n; [Supervisor.Run] starts it.
func NewSupervisor(n *Node, cfg SupervisorConfig) *Supervisor {
	return &Supervisor{n: n, cfg: cfg, cancels: map[*context.CancelFunc]struct{}{}}
}

// Run supervises the member until ctx ends, [Supervisor.Stop] is called
// or the member stops.
func (s *Supervisor) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.cancels[&cancel] = struct{}{}
	s.runs.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.cancels, &cancel)
		s.mu.Unlock()
		s.runs.Done()
	}()

	began := s.cfg.Began
	if began.IsZero() {
		began = time.Now()
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.watchLeader(ctx) })
	if s.cfg.Admin != nil && s.cfg.MaxVoters >= 1 && s.n.IsLearner() {
		wg.Go(func() { s.promote(ctx, began) })
	}
	wg.Wait()
}

// Stop ends every Run and waits until they have returned; a later Run
// returns at once.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	s.stopped = true
	for c := range s.cancels {
		(*c)()
	}
	s.mu.Unlock()
	s.runs.Wait()
}

func (s *Supervisor) report(ev Event) {
	if s.cfg.Report == nil {
		return
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	s.cfg.Report(ev)
}

// wait waits for d, or until ctx ends or the member stops; it reports
// whether d passed.
func (s *Supervisor) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.n.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchLeader reports every change of leader the member sees.
func (s *Supervisor) watchLeader(ctx context.Context) {
	var last uint64
	first := true
	for {
		select {
		case <-s.n.Done():
			return
		default:
		}
		elected := s.n.leaderChanged()
		id, term := s.n.Leader()
		if id != last || first {
			if id != 0 || !first {
				s.report(Event{Kind: EventLeader, Leader: id, LeaderName: s.n.MemberName(id), Term: term})
			}
			last, first = id, false
		}
		t := time.NewTimer(cmp.Or(s.n.election, DefaultElectionTimeout))
		select {
		case <-ctx.Done():
		case <-s.n.Done():
		case <-elected:
		case <-t.C:
			// No notification comes when the leader is lost: look.
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// caughtUp waits until the member knows a leader and has applied every
// entry it knows to be committed: then the leader, which compares the
// learner's log with its own, is about to accept the promotion. It
// reports false if ctx ended or the member stopped first.
func (s *Supervisor) caughtUp(ctx context.Context) bool {
	for {
		elected := s.n.leaderChanged()
		if id, _ := s.n.Leader(); id != 0 {
			break
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.n.Done():
			return false
		case <-elected:
		}
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.n.Done():
		return false
	case <-s.n.appliedCommitted():
		return true
	}
}

// promote promotes the learner once it has caught up, while the cluster
// has fewer than MaxVoters voting members.
func (s *Supervisor) promote(ctx context.Context, began time.Time) {
	adm, maxVoters := s.cfg.Admin, s.cfg.MaxVoters
	retries := newBackoff(promoteFirst, promoteMax)
	full := false
	var lastErr string
	for {
		if !s.n.IsLearner() {
			select {
			case <-s.n.Done():
			default:
				s.report(Event{Kind: EventPromotedElsewhere})
			}
			return
		}
		if !s.caughtUp(ctx) {
			return
		}
		var wait time.Duration
		m, err := adm.CountMembers(ctx)
		switch {
		case err != nil:
			wait = retries.next()
		case m.Voters >= maxVoters:
			if !full {
				s.report(Event{Kind: EventStayingLearner, Voters: m.Voters, MaxVoters: maxVoters})
			}
			full = true
			wait = newBackoff(fullRecheck, fullRecheck).next()
		default:
			pctx, cancel := context.WithTimeout(ctx, promoteTimeout)
			err = adm.Promote(pctx, s.n.ID())
			cancel()
			if err == nil {
				s.report(Event{Kind: EventPromoted, Voters: m.Voters + 1, After: time.Since(began)})
				return
			}
			wait = retries.next()
		}
		if err != nil && ctx.Err() == nil && err.Error() != lastErr {
			lastErr = err.Error()
			s.report(Event{Kind: EventNotPromoted, Err: err})
		}
		if !s.wait(ctx, wait) {
			return
		}
	}
}
