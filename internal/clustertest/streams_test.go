//go:build unix

package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stream is a long-running `parley send --json ROOM -` process fed one
// line at a time, as `tail -f log | parley send room -` would be.
type stream struct {
	c     *client
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}

	mu      sync.Mutex
	written map[string]time.Time // text -> when it was written
	acks    map[string]messageJSON
	ackAt   map[string]time.Time
	stderr  strings.Builder
}

func (c *client) stream(room string) *stream {
	c.h.t.Helper()
	s := &stream{c: c, done: make(chan struct{}), written: map[string]time.Time{}, acks: map[string]messageJSON{}, ackAt: map[string]time.Time{}}
	s.cmd = exec.Command(c.h.bin, c.args("send", "--json", room, "-")...)
	s.cmd.Dir = c.h.dir
	s.cmd.Env = cleanEnv()
	s.cmd.SysProcAttr = sysProcAttr()
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		c.h.t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		c.h.t.Fatal(err)
	}
	errp, err := s.cmd.StderrPipe()
	if err != nil {
		c.h.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		c.h.t.Fatal(err)
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m messageJSON
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.ID == "" {
				continue
			}
			s.mu.Lock()
			if _, ok := s.acks[m.Text]; !ok {
				s.acks[m.Text], s.ackAt[m.Text] = m, time.Now()
			}
			s.mu.Unlock()
		}
	})
	readers.Go(func() {
		b, _ := io.ReadAll(errp)
		s.mu.Lock()
		s.stderr.Write(b)
		s.mu.Unlock()
	})
	go func() {
		readers.Wait()
		s.cmd.Wait()
		close(s.done)
	}()
	c.h.t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// feed writes "<client>-<n>" lines every interval until ctx ends.
func (s *stream) feed(ctx context.Context, interval time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := 1; ; i++ {
			text := fmt.Sprintf("%s-%05d", s.c.name, i)
			s.mu.Lock()
			s.written[text] = time.Now()
			s.mu.Unlock()
			if _, err := io.WriteString(s.stdin, text+"\n"); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return done
}

// sends reports every line written as a Send, with the outcome the stream
// acknowledged (Unknown for a line it never answered).
func (s *stream) sends() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Send
	for text, at := range s.written {
		snd := Send{Client: s.c.name, Text: text, Invoke: at, Return: at}
		if m, ok := s.acks[text]; ok {
			snd.ID, snd.Return = m.ID, s.ackAt[text]
			if m.Pending {
				snd.Outcome = Queued
			} else {
				snd.Outcome, snd.Revision = Sent, m.Revision
			}
		}
		out = append(out, snd)
	}
	return out
}

// TestStreamsAcrossFaults streams lines through two long-running `send -`
// processes while the cluster loses its quorum for several seconds and
// then has a member replaced, with a second process of one user
// delivering that user's outbox at the same time. Nothing acknowledged is
// lost or doubled, no sequence number is used twice (readers would report
// it), what was queued is delivered soon after the quorum is back, and the
// streams stop at once on SIGTERM.
func TestStreamsAcrossFaults(t *testing.T) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	eps := c.endpoints()
	const room = "ops"
	clients := []*client{h.client("c1", eps, 4*time.Second), h.client("c2", eps, 4*time.Second)}
	setupRoom(room, clients[0], clients[1])
	followers := []*follower{clients[1].follow(room)}

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var streams []*stream
	var feeds []<-chan struct{}
	for _, cl := range clients {
		s := cl.stream(room)
		streams = append(streams, s)
		feeds = append(feeds, s.feed(ctx, 100*time.Millisecond))
	}
	// A second process of c1 delivers c1's outbox all along.
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for ctx.Err() == nil {
			clients[0].run("outbox", "--deliver")
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	time.Sleep(3 * time.Second)

	// The quorum goes away for 6 s.
	leader := c.leader()
	var down []*member
	for _, m := range c.members {
		if len(down) < 3 && m != leader {
			down = append(down, m)
		}
	}
	lostAt := time.Now()
	for _, m := range down {
		m.kill()
	}
	time.Sleep(6 * time.Second)
	backAt := time.Now()
	for _, m := range down {
		c.restart(m)
	}
	t.Logf("quorum lost for %v", backAt.Sub(lostAt).Round(time.Millisecond))
	c.waitHealthy(5, 60*time.Second)

	// A member is replaced while the streams go on.
	victim := c.members[len(c.members)-1]
	if victim == c.leader() {
		victim = c.members[len(c.members)-2]
	}
	// etcd refuses to remove a member until the others have been
	// connected for 5 s ("unhealthy cluster"): retry until it agrees.
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, errOut, code := clients[0].run("cluster", "remove", victim.name)
		if code == 0 {
			break
		}
		if !strings.Contains(errOut, "unhealthy cluster") || time.Now().After(deadline) {
			t.Fatalf("cluster remove %s: exit %d: %s", victim.name, code, errOut)
		}
		time.Sleep(time.Second)
	}
	if !victim.p.waitExit(30 * time.Second) {
		t.Fatalf("%s still runs after its removal", victim.name)
	}
	urls := freeURLs(t, 2)
	fresh := h.start("m9", nil, "node", "--name", "m9", "--data-dir", filepath.Join(h.dir, "m9"),
		"--listen-client-urls", urls[0], "--listen-peer-urls", urls[1], "--join", strings.Join(eps[:2], ","), "--unsafe-no-fsync")
	if line, _ := fresh.waitStderr(regexp.MustCompile(`promoted to a voting member`), 90*time.Second); line == "" {
		t.Fatalf("the replacement was not promoted: %s", tail(fresh.stderrText(), 2000))
	}
	time.Sleep(2 * time.Second)
	stop()
	for _, f := range feeds {
		<-f
	}
	<-delivered

	// SIGTERM stops the streams at once.
	for _, s := range streams {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s's send - still runs 5 s after SIGTERM", s.c.name)
		}
	}
	var sends []Send
	queued := map[string]bool{}
	for _, s := range streams {
		for _, snd := range s.sends() {
			sends = append(sends, snd)
			if snd.Outcome == Queued {
				queued[snd.ID] = true
			}
		}
	}
	// What was queued goes out: the streams flushed before they stopped,
	// the outbox process delivered c1's.
	for _, cl := range clients {
		cl.drainOutbox()
	}
	deliveredAll := time.Now()
	hist := finalHistory(t, room, sends, clients, followers)
	checkHistory(t, hist)
	stored := map[string]bool{}
	for _, m := range hist.Reads[0].Messages {
		stored[m.ID] = true
	}
	for id := range queued {
		if !stored[id] {
			t.Errorf("queued message %s was never delivered", id)
		}
	}
	t.Logf("%s; %d messages stored; %d queued, all delivered %v after the quorum returned", counts(sends), len(hist.Reads[0].Messages), len(queued), deliveredAll.Sub(backAt).Round(time.Millisecond))
	for _, s := range streams {
		s.mu.Lock()
		if strings.Contains(s.stderr.String(), "raft: stopped") || strings.Contains(s.stderr.String(), "panic") {
			t.Errorf("%s's stream reported: %s", s.c.name, tail(s.stderr.String(), 1000))
		}
		s.mu.Unlock()
	}
}
