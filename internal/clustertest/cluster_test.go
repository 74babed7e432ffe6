//go:build unix

package clustertest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// freeURLs returns n free loopback URLs.
func freeURLs(t *testing.T, n int) []string {
	t.Helper()
	urls, err := node.FreeLoopbackURLs(n)
	if err != nil {
		t.Fatal(err)
	}
	return urls
}

// waitLoops waits for sender loops to finish their last send.
func waitLoops(t *testing.T, loops []<-chan struct{}) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for _, l := range loops {
		select {
		case <-l:
		case <-timeout:
			t.Fatal("senders did not stop")
		}
	}
}

// finalHistory drains every client's outbox, reads the room as every
// client, stops the followers once they have caught up, and returns the
// history.
func finalHistory(t *testing.T, room string, sends []Send, clients []*client, followers []*follower) History {
	t.Helper()
	for _, cl := range clients {
		cl.drainOutbox()
	}
	h := History{Sends: sends}
	for _, cl := range clients {
		h.Reads = append(h.Reads, cl.read(room))
	}
	for _, f := range followers {
		h.Streams = append(h.Streams, f.stop(len(h.Reads[0].Messages), 30*time.Second))
	}
	return h
}

// clusterStatusJSON runs `parley cluster status --json` as cl and returns
// the members by name.
func clusterStatusJSON(t *testing.T, cl *client, extra ...string) map[string]map[string]any {
	t.Helper()
	out := cl.must(append(append([]string{"cluster"}, extra...), "status", "--json")...)
	ms := map[string]map[string]any{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("cluster status --json: %v: %q", err, line)
		}
		ms[m["name"].(string)] = m
	}
	return ms
}

// TestMinorityFailure kills two of five members, the leader among them,
// while three clients send, restarts one of them, and checks that every
// acknowledged message is stored exactly once, in one order for all, and
// that sending resumed.
func TestMinorityFailure(t *testing.T) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	eps := c.endpoints()
	const room = "ops"
	clients := []*client{h.client("c1", eps, 20*time.Second), h.client("c2", eps, 20*time.Second), h.client("c3", eps, 20*time.Second)}
	setupRoom(room, clients[0], clients[1:]...)
	followers := []*follower{clients[1].follow(room)}

	rec := &recorder{}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var loops []<-chan struct{}
	for _, cl := range clients {
		loops = append(loops, cl.sendLoop(ctx, room, rec))
	}
	time.Sleep(4 * time.Second)

	leader := c.leader()
	var follower *member
	for _, m := range c.members {
		if m != leader {
			follower = m
			break
		}
	}
	killedAt := time.Now()
	leader.kill()
	follower.kill()
	t.Logf("killed %s (the leader) and %s", leader.name, follower.name)

	// A reader launched during the outage.
	time.Sleep(time.Second)
	followers = append(followers, clients[2].follow(room))
	time.Sleep(5 * time.Second)

	restartedAt := time.Now()
	c.restart(leader)
	t.Logf("restarted %s", leader.name)
	time.Sleep(4 * time.Second)
	stop()
	waitLoops(t, loops)

	sends := rec.all()
	hist := finalHistory(t, room, sends, clients, followers)
	checkHistory(t, hist)
	t.Logf("%s; %d messages stored", counts(sends), len(hist.Reads[0].Messages))

	d, ok := stall(sends, killedAt)
	if !ok {
		t.Fatal("no send was acknowledged after the kill")
	}
	gap, _ := maxGap(sends)
	t.Logf("stall after killing the leader and a follower: %v (first send begun after the kill, acknowledged); longest gap between acknowledgements: %v", d.Round(time.Millisecond), gap.Round(time.Millisecond))
	if _, ok := stall(sends, restartedAt); !ok {
		t.Error("no send was acknowledged after the restart")
	}

	// The operator's view: four members up, one down.
	st := clusterStatusJSON(t, clients[0])
	if len(st) != 5 {
		t.Fatalf("cluster status lists %d members: %v", len(st), st)
	}
	up, leaders := 0, 0
	for name, m := range st {
		if m["reachable"] == true {
			up++
		}
		if m["role"] == "leader" {
			leaders++
		}
		if name == follower.name && m["reachable"] != false {
			t.Errorf("killed member %s reported reachable: %v", name, m)
		}
	}
	if up != 4 || leaders != 1 {
		t.Errorf("cluster status: %d reachable, %d leaders; want 4 and 1: %v", up, leaders, st)
	}
}

// TestQuorumLoss kills three of five members, the leader among them, while
// three clients send. Sends neither fail nor hang: they go to each
// client's outbox, also in client processes launched during the outage,
// and are delivered exactly once after the members return. A reader
// following the room across the outage resumes where it left off.
func TestQuorumLoss(t *testing.T) {
	t.Run("LeaderKilled", func(t *testing.T) { testQuorumLoss(t, true) })
	t.Run("LeaderSurvives", func(t *testing.T) { testQuorumLoss(t, false) })
}

// testQuorumLoss kills three of five members; the leader among them if
// killLeader, else the leader is left alone with a follower and keeps
// accepting writes it cannot commit until it steps down.
func testQuorumLoss(t *testing.T, killLeader bool) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	eps := c.endpoints()
	const room = "ops"
	// A send waits half its timeout before queueing.
	clients := []*client{h.client("c1", eps, 4*time.Second), h.client("c2", eps, 4*time.Second), h.client("c3", eps, 4*time.Second)}
	setupRoom(room, clients[0], clients[1:]...)
	followers := []*follower{clients[1].follow(room)}

	rec := &recorder{}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var loops []<-chan struct{}
	for _, cl := range clients {
		loops = append(loops, cl.sendLoop(ctx, room, rec))
	}
	time.Sleep(3 * time.Second)

	leader := c.leader()
	var down []*member
	if killLeader {
		down = append(down, leader)
	}
	for _, m := range c.members {
		if len(down) < 3 && m != leader {
			down = append(down, m)
		}
	}
	lostAt := time.Now()
	for _, m := range down {
		m.kill()
	}
	t.Logf("killed %s, %s and %s; %s is the leader", down[0].name, down[1].name, down[2].name, leader.name)

	// Every send is a new process: the client is relaunched again and
	// again while the cluster has no quorum.
	time.Sleep(5 * time.Second)
	out, _, code := clients[0].run("outbox", "--json")
	if code != 0 || !strings.Contains(out, `"pending":true`) {
		t.Errorf("c1's outbox during the outage (exit %d): %q", code, out)
	}
	st := clusterStatusJSON(t, clients[0])
	up := 0
	for _, m := range st {
		if m["reachable"] == true {
			up++
		}
	}
	if len(st) != 5 || up != 2 {
		t.Errorf("cluster status during the outage: %d members, %d reachable: %v", len(st), up, st)
	}
	time.Sleep(time.Until(lostAt.Add(12 * time.Second)))

	backAt := time.Now()
	for _, m := range down {
		c.restart(m)
	}
	t.Logf("restarted them after %v", backAt.Sub(lostAt).Round(time.Millisecond))
	time.Sleep(6 * time.Second)
	stop()
	waitLoops(t, loops)

	sends := rec.all()
	var queuedDuring, sentDuring int
	for _, s := range sends {
		if s.Invoke.After(lostAt.Add(time.Second)) && s.Return.Before(backAt) {
			switch s.Outcome {
			case Queued:
				queuedDuring++
			case Sent:
				sentDuring++
			}
		}
		if s.Return.Sub(s.Invoke) > 30*time.Second {
			t.Errorf("send %q took %v", s.Text, s.Return.Sub(s.Invoke))
		}
	}
	if queuedDuring == 0 || sentDuring != 0 {
		t.Errorf("while the cluster had no quorum: %d sends queued, %d stored; want some queued and none stored", queuedDuring, sentDuring)
	}
	perClient := map[string]int{}
	for _, s := range sends {
		if s.Outcome == Queued {
			perClient[s.Client]++
		}
	}
	for _, cl := range clients {
		if perClient[cl.name] < 2 {
			t.Errorf("%s queued %d messages; the test wants each client relaunched with a message already queued", cl.name, perClient[cl.name])
		}
	}

	hist := finalHistory(t, room, sends, clients, followers)
	checkHistory(t, hist)
	t.Logf("%s; %d messages stored", counts(sends), len(hist.Reads[0].Messages))
	if d, ok := stall(sends, backAt); ok {
		t.Logf("first send begun after the restart acknowledged %v after it", d.Round(time.Millisecond))
	} else {
		t.Error("no send was acknowledged after the members returned")
	}
}

// TestGrowShrink adds a sixth member with `parley node --join` while
// clients send, then a seventh that stays a learner because the cluster
// has --max-voters voting members, removes both with `parley cluster
// remove`, and checks that the cluster stayed healthy and lost nothing.
func TestGrowShrink(t *testing.T) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	eps := c.endpoints()
	const room = "ops"
	clients := []*client{h.client("c1", eps, 20*time.Second), h.client("c2", eps, 20*time.Second), h.client("c3", eps, 20*time.Second)}
	// c4 sends once, through the learner's machine.
	c4 := h.client("c4", eps, 20*time.Second)
	setupRoom(room, clients[0], clients[1], clients[2], c4)
	followers := []*follower{clients[1].follow(room)}

	rec := &recorder{}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var loops []<-chan struct{}
	for _, cl := range clients {
		loops = append(loops, cl.sendLoop(ctx, room, rec))
	}
	time.Sleep(2 * time.Second)

	joinURLs := strings.Join(eps[:3], ",")
	urls := freeURLs(t, 4)
	m6 := h.start("m6", nil, "node", "--name", "m6", "--data-dir", filepath.Join(h.dir, "m6"),
		"--listen-client-urls", urls[0], "--listen-peer-urls", urls[1], "--join", joinURLs, "--unsafe-no-fsync")
	line, seen := m6.waitStderr(regexp.MustCompile(`promoted to a voting member`), 60*time.Second)
	if line == "" {
		t.Fatalf("m6 was not promoted: %s", m6.stderrText())
	}
	t.Logf("join took %v from starting parley node --join to promoted (%s)", seen.Sub(m6.started).Round(time.Millisecond), line)
	c.waitHealthy(6, 30*time.Second)
	st := clusterStatusJSON(t, clients[0])
	if len(st) != 6 || st["m6"]["reachable"] != true || (st["m6"]["role"] != "follower" && st["m6"]["role"] != "leader") {
		t.Fatalf("after m6 joined: %v", st)
	}

	// m7 is configured the etcd way, through ETCD_* variables, and finds
	// the cluster full.
	m7 := h.start("m7", []string{
		"ETCD_NAME=m7", "ETCD_DATA_DIR=" + filepath.Join(h.dir, "m7"),
		"ETCD_LISTEN_CLIENT_URLS=" + urls[2], "ETCD_LISTEN_PEER_URLS=" + urls[3], "ETCD_UNSAFE_NO_FSYNC=true",
	}, "node", "--join", joinURLs, "--max-voters", "6")
	if line, _ := m7.waitStderr(regexp.MustCompile(`staying a learner`), 60*time.Second); line == "" {
		t.Fatalf("m7 did not stay a learner: %s", m7.stderrText())
	}
	st = clusterStatusJSON(t, clients[0])
	if len(st) != 7 || st["m7"]["role"] != "learner" || st["m7"]["reachable"] != true {
		t.Fatalf("after m7 joined: %v", st)
	}
	// A client on the learner's machine lists the learner first: etcd
	// refuses the learner's clients, and the client goes on to the next
	// endpoint.
	local := h.client("c4", []string{urls[2], eps[0]}, 20*time.Second)
	s := local.send(room, "c4-via-learner")
	rec.add(s)
	if s.Outcome != Sent {
		t.Errorf("send through the learner's machine: %+v", s)
	}
	if r := local.read(room); len(r.Messages) == 0 {
		t.Error("read through the learner's machine found nothing")
	}

	for _, m := range []struct {
		name string
		p    *proc
	}{{"m7", m7}, {"m6", m6}} {
		clients[0].must("cluster", "remove", m.name)
		if !m.p.waitExit(30 * time.Second) {
			t.Fatalf("%s still runs after its removal", m.name)
		}
		if code := m.p.exitCode(); code != 0 || !strings.Contains(m.p.stderrText(), "removed from the cluster") {
			t.Errorf("removed %s exited %d: %s", m.name, code, m.p.stderrText())
		}
	}
	c.waitHealthy(5, 30*time.Second)
	if st := clusterStatusJSON(t, clients[0]); len(st) != 5 {
		t.Errorf("after the removals: %v", st)
	}
	time.Sleep(2 * time.Second)
	stop()
	waitLoops(t, loops)

	sends := rec.all()
	hist := finalHistory(t, room, sends, append(clients, c4), followers)
	checkHistory(t, hist)
	gap, from := maxGap(sends)
	t.Logf("%s; %d messages stored; longest gap between acknowledgements %v (at %s)", counts(sends), len(hist.Reads[0].Messages), gap.Round(time.Millisecond), from.Format("15:04:05.000"))
}
