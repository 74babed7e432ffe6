package tui

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// The room list of 10,000 rooms loads within a 5s timeout, saying how far
// it got while it loads, and stays quick to draw.
func TestRoomListLong(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: creates 10,000 rooms")
	}
	const total = 10000
	st := openStore(t, startEtcd(t))
	ctx := testCtx(t)
	alice := login(t, st, "alice")
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if _, err := alice.CreateRoom(ctx, names.Room(fmt.Sprintf("room-%05d", i))); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d rooms with 16 concurrent creates in %v", total, time.Since(start).Round(time.Millisecond))

	sess := newSession(st)
	carol, err := chat.Login(ctx, st, sess.addKeystore(t, "carol", ""), chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		room := fmt.Sprintf("room-%05d", i)
		if err := carol.RequestJoin(ctx, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		if err := alice.Approve(ctx, names.Room(room), "carol"); err != nil {
			t.Fatal(err)
		}
	}
	mustSend(t, alice, "room-00001", "hello carol")

	start = time.Now()
	d := newDriver(t, sess, Options{User: "carol", Timeout: 5 * time.Second})
	d.waitFor("the progress of the listing", func() bool {
		p := d.m.rooms.progress
		return p > 0 && strings.Contains(d.screen(), fmt.Sprintf("Loading the rooms: %d read…", p))
	})
	d.waitFor("the room list", func() bool { return d.m.rooms.loaded || d.m.rooms.listErr != "" })
	t.Logf("the room list of %d rooms loaded in %v (login included), with a 5s timeout", total, time.Since(start).Round(time.Millisecond))
	if d.m.rooms.listErr != "" {
		t.Fatal(d.m.rooms.listErr)
	}
	d.waitText(fmt.Sprintf("There are %d rooms:", total), "Your rooms", "[0]   room-00000")
	d.waitText("alice: hello carol") // the summaries come after the list
	if n := len(d.m.rooms.rooms); n != total {
		t.Fatalf("%d rooms listed, want %d", n, total)
	}

	// Drawing the list costs the rows on screen, not all of them.
	d.press(tea.KeyDown)
	start = time.Now()
	const draws = 20
	for range draws {
		d.m.View()
	}
	t.Logf("a redraw of the list of %d rooms: %v", total, (time.Since(start) / draws).Round(time.Microsecond))
	d.typeText("9999")
	d.waitText("[9999] room-09999")
}
