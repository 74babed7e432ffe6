package node_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/parley-chat/parley/internal/node"
)

// calls counts the cluster calls an Admin makes, by method.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.mu.Lock()
	c.n[method[strings.LastIndex(method, "/")+1:]]++
	c.mu.Unlock()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *calls) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

func (c *calls) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = map[string]int{}
}

// eventLog is what a supervisor reported, in order.
type eventLog struct {
	t      *testing.T
	events chan node.Event
	seen   []node.Event // received, not yet expected
}

// supervised runs a supervisor of n until the test ends and returns its
// events.
func supervised(t *testing.T, n *node.Node, cfg node.SupervisorConfig) *eventLog {
	t.Helper()
	l := &eventLog{t: t, events: make(chan node.Event, 64)}
	cfg.Report = func(ev node.Event) { l.events <- ev }
	sup := node.NewSupervisor(n, cfg)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		sup.Run(context.Background())
	}()
	t.Cleanup(func() {
		sup.Stop()
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Error("Run still runs after Stop")
		}
	})
	return l
}

// expect returns the first event, reported so far or within 30 s, for
// which want is true, and forgets it and those before it. The leader
// watch and the promotion report independently: their events may come in
// either order. A failed promotion fails the test.
func (l *eventLog) expect(what string, want func(node.Event) bool) node.Event {
	l.t.Helper()
	limit := time.After(30 * time.Second)
	for i := 0; ; i++ {
		for i >= len(l.seen) {
			select {
			case ev := <-l.events:
				l.t.Logf("event %+v", ev)
				if ev.Kind == node.EventNotPromoted {
					l.t.Fatalf("waiting for %s: not promoted: %v", what, ev.Err)
				}
				l.seen = append(l.seen, ev)
			case <-limit:
				l.t.Fatalf("no event %s within 30 s", what)
			}
		}
		if ev := l.seen[i]; want(ev) {
			l.seen = slices.Delete(l.seen, i, i+1)
			return ev
		}
	}
}

// The supervisor of a learner promotes it once it has caught up, counting
// the voters once, not over and over; the supervisors report the leader
// and its changes; a learner of a cluster with all its voters stays one.
func TestSupervisor(t *testing.T) {
	cfg1 := testConfig(t, "m1")
	first := startNode(t, cfg1)
	var c calls
	c.reset()
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: first.ClientURLs(), DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(c.interceptor)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() }) // after the supervisors stop
	ctx := testContext(t, 60*time.Second)

	cfg := testConfig(t, "m2")
	id, initial, err := adm.Join(ctx, "m2", cfg.ListenPeerURLs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InitialCluster, cfg.InitialClusterState = initial, node.ClusterStateExisting
	second := startNode(t, cfg)
	if !second.IsLearner() {
		t.Fatal("m2 did not start as a learner")
	}

	c.reset()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the cluster was asked %d times to promote, listed %d times", c.get("MemberPromote"), c.get("MemberList"))
		}
	})
	began := time.Now()
	ev2 := supervised(t, second, node.SupervisorConfig{Admin: adm, MaxVoters: 2, Began: began})
	ev2.expect("m2 sees m1 lead", func(ev node.Event) bool {
		return ev.Kind == node.EventLeader && ev.Leader == first.ID() && ev.LeaderName == "m1" && ev.Term > 0
	})
	ev := ev2.expect("m2 promoted", func(ev node.Event) bool { return ev.Kind == node.EventPromoted })
	if ev.Voters != 2 || ev.After <= 0 || ev.After > time.Since(began) {
		t.Errorf("promoted: %+v", ev)
	}
	if n := c.get("MemberList"); n != 1 {
		t.Errorf("the supervisor listed the members %d times before promoting m2, want once", n)
	}
	t.Logf("promotion asked %d times", c.get("MemberPromote"))
	if learner, err := adm.IsLearner(ctx, id); err != nil || learner {
		t.Fatalf("m2 after its promotion: learner %v, %v", learner, err)
	}

	ev1 := supervised(t, first, node.SupervisorConfig{})
	ev1.expect("m1 leads", func(ev node.Event) bool { return ev.Kind == node.EventLeader && ev.Leader == first.ID() })
	waitFor(t, "m2 votes", func() bool { return !second.IsLearner() })
	if _, err := newClient(t, first.ClientURLs()).MoveLeader(ctx, second.ID()); err != nil {
		t.Fatalf("move the leadership to m2: %v", err)
	}
	ev1.expect("m1 sees m2 lead", func(ev node.Event) bool {
		return ev.Kind == node.EventLeader && ev.Leader == second.ID() && ev.LeaderName == "m2"
	})
	ev2.expect("m2 leads", func(ev node.Event) bool { return ev.Kind == node.EventLeader && ev.Leader == second.ID() })

	// A third member finds the cluster full.
	cfg3 := testConfig(t, "m3")
	_, initial, err = adm.Join(ctx, "m3", cfg3.ListenPeerURLs)
	if err != nil {
		t.Fatal(err)
	}
	cfg3.InitialCluster, cfg3.InitialClusterState = initial, node.ClusterStateExisting
	third := startNode(t, cfg3)
	ev3 := supervised(t, third, node.SupervisorConfig{Admin: adm, MaxVoters: 2})
	ev = ev3.expect("m3 stays a learner", func(ev node.Event) bool { return ev.Kind == node.EventStayingLearner })
	if ev.Voters != 2 || ev.MaxVoters != 2 || !third.IsLearner() {
		t.Errorf("staying a learner: %+v, learner %v", ev, third.IsLearner())
	}
}

// Stop ends Run, also a Run that starts after it.
func TestSupervisorStop(t *testing.T) {
	n := startNode(t, testConfig(t, "m1"))
	sup := node.NewSupervisor(n, node.SupervisorConfig{})
	ran := make(chan struct{})
	go func() { sup.Run(context.Background()); close(ran) }()
	sup.Stop()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still runs after Stop")
	}
	done := make(chan struct{})
	go func() { sup.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run after Stop runs")
	}
}
