package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/testkit"
)

// A conversation that cannot be read says so: the room opens with the
// reason on screen, not as an empty history.
func TestOpenRoomErrorShown(t *testing.T) {
	t.Parallel()
	eps := startEtcd(t)
	p := testkit.NewProxy(t, eps[0])
	d := newDriver(t, newSession(openStore(t, []string{p.Endpoint()})), Options{User: "alice", Timeout: 2 * time.Second})
	d.waitText("New identity alice")
	d.enter()
	d.waitFor("the room list", func() bool { return d.m.screen == screenRooms && d.m.rooms.loaded })
	if _, err := d.m.sh.svc.CreateRoom(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	d.waitFor("general listed", func() bool { return d.m.isMember("general") })

	p.SetDown(true)
	showRoom(t, d, "general")
	d.waitText("cannot read the history:")
	if d.m.conv.pageRev != 0 || len(d.m.conv.members) != 0 {
		t.Fatalf("a failed open left a page (revision %d) or members %v", d.m.conv.pageRev, d.m.conv.members)
	}
}

// What a background read fails with is shown too: the members refreshed
// after a membership change, the newest messages of the room list.
func TestBackgroundErrorsShown(t *testing.T) {
	t.Parallel()
	d := loggedIn(t, openStore(t, startEtcd(t)), "alice")
	done := make(chan tea.Msg) // the listing's channel, at its end
	close(done)
	d.send(summariesMsg{failed: 2, err: errors.New("general: no answer"), ch: done})
	d.waitText("cannot read the newest messages of 2 rooms: general: no answer")

	if _, err := d.m.sh.svc.CreateRoom(testCtx(t), "general"); err != nil {
		t.Fatal(err)
	}
	showRoom(t, d, "general")
	d.send(membersMsg{room: "general", err: errors.New("the cluster is away")})
	d.waitText("cannot read the members: the cluster is away")
	d.send(readMarkMsg{err: errors.New("disk full")})
	d.send(readMarkMsg{err: errors.New("disk full again")})
	d.waitText("disk full")
	if strings.Contains(d.screen(), "disk full again") {
		t.Fatal("a second read mark failure was shown again")
	}
}
