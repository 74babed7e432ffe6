//go:build unix

package clustertest

import (
	"context"
	"slices"
	"testing"
	"time"
)

// stallRounds is how many times TestLeaderKillStall kills the leader.
const stallRounds = 5

// TestLeaderKillStall measures how long sending stalls when the leader of
// a five-member cluster (etcd's default timing: 100 ms heartbeat, 1 s
// election timeout) is killed with SIGKILL: three chat clients in this
// process, each with its own connection to all five members, send every
// 20 ms; the stall is the time from the kill to the acknowledgement of the
// first send begun after it. The killed member is restarted between
// rounds. The median is logged; the history is checked.
func TestLeaderKillStall(t *testing.T) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	eps := c.endpoints()
	const room = "ops"
	clients := []*inproc{newInproc(t, "s1", eps, nil), newInproc(t, "s2", eps, nil), newInproc(t, "s3", eps, nil)}
	setupInprocRoom(t, room, clients[0], clients[1:]...)

	rec := &recorder{}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var loops []<-chan struct{}
	for _, cl := range clients {
		loops = append(loops, cl.sendLoop(ctx, room, 20*time.Millisecond, rec))
	}

	var stalls []time.Duration
	for round := 1; round <= stallRounds; round++ {
		time.Sleep(1500 * time.Millisecond)
		leader := c.leader()
		killedAt := time.Now()
		leader.kill()
		var d time.Duration
		for {
			var ok bool
			if d, ok = stall(rec.all(), killedAt); ok {
				break
			}
			if time.Since(killedAt) > 30*time.Second {
				t.Fatalf("round %d: no send acknowledged 30 s after killing %s", round, leader.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stalls = append(stalls, d)
		t.Logf("round %d: killed the leader %s; sending stalled %v", round, leader.name, d.Round(time.Millisecond))
		c.restart(leader)
		c.waitHealthy(5, 60*time.Second)
	}
	stop()
	waitLoops(t, loops)

	sends := rec.all()
	hist := History{Sends: sends}
	for _, cl := range clients {
		hist.Reads = append(hist.Reads, cl.read(room))
	}
	checkHistory(t, hist)
	slices.Sort(stalls)
	t.Logf("%s; stall after a leader kill: median %v of %d rounds (min %v, max %v)", counts(sends),
		stalls[len(stalls)/2].Round(time.Millisecond), len(stalls), stalls[0].Round(time.Millisecond), stalls[len(stalls)-1].Round(time.Millisecond))
}
