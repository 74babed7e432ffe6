package chat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// streamed reads room with StreamForward and returns what it showed, page
// by page, and its final page.
func streamed(t *testing.T, s *chat.Service, room string, limit int) ([][]chat.Message, *chat.Page) {
	t.Helper()
	var pages [][]chat.Message
	trips := 0
	p, err := s.StreamForward(ctx(t), names.Room(room), chat.StreamOptions{Limit: limit, Progress: func() { trips++ }}, func(p *chat.Page) error {
		pages = append(pages, p.Messages)
		return nil
	})
	if err != nil {
		t.Fatalf("StreamForward(%s, %d) = %v", room, limit, err)
	}
	if trips < len(pages)+1 {
		t.Fatalf("StreamForward(%s, %d): %d pages but %d round trips reported", room, limit, len(pages), trips)
	}
	if len(p.Messages) != 0 {
		t.Fatalf("StreamForward returned %d messages on its final page", len(p.Messages))
	}
	return pages, p
}

func ids(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// flowStreamForwardAsHistory: StreamForward shows what History shows, in
// the same order, with the same warnings, for the whole history and for
// limits, although it reads the pages oldest first: with a sender whose
// clock is behind (so key order is not revision order across pages), a
// member whose clock is a year ahead, and a message deleted in etcd.
func flowStreamForwardAsHistory(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	login := func(name string, skew time.Duration) *chat.Service {
		id, err := crypto.NewIdentity(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := chat.Login(c, e.st, id, chat.Options{Now: func() time.Time { return time.Now().Add(skew) }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bob, mallory, reader := login("bob", -3*time.Second), login("mallory", 365*24*time.Hour), e.login("reader")
	groupOf(t, "r", alice, bob, mallory, reader)
	mustSend(t, mallory, "r", "from the future, early")
	var wg sync.WaitGroup
	for _, s := range []*chat.Service{alice, bob} {
		for w := range 8 {
			wg.Go(func() {
				for i := range 300 {
					if _, err := s.Send(c, "r", fmt.Sprintf("%s %d.%d", s.Me(), w, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	gone := mustSend(t, alice, "r", "deleted in etcd")
	mustSend(t, alice, "r", "after the deleted one")
	mustSend(t, mallory, "r", "from the future, late")
	mustSend(t, bob, "r", "newest")
	if _, err := e.raw().Delete(c, store.Prefix+"room/r/m/"+gone.ID); err != nil {
		t.Fatal(err)
	}

	for _, limit := range []int{0, 1, 2, 3, 1999, 2000, 2001, 4000, 10000} {
		want, err := reader.History(c, "r", limit)
		if err != nil {
			t.Fatal(err)
		}
		pages, got := streamed(t, reader, "r", limit)
		all := slices.Concat(pages...)
		if !slices.Equal(ids(all), ids(want.Messages)) {
			for i := range min(len(all), len(want.Messages)) {
				if all[i].ID != want.Messages[i].ID {
					t.Logf("first difference at %d: %s %q rev %d / %s %q rev %d", i, all[i].Sender, all[i].Text, all[i].Revision, want.Messages[i].Sender, want.Messages[i].Text, want.Messages[i].Revision)
					break
				}
			}
			t.Fatalf("limit %d: StreamForward showed %d messages, History %d, or in another order", limit, len(all), len(want.Messages))
		}
		if !slices.Equal(got.Warnings, want.Warnings) {
			t.Fatalf("limit %d: StreamForward warns\n%q\nHistory warns\n%q", limit, got.Warnings, want.Warnings)
		}
		if got.Revision != want.Revision || got.More != want.More {
			t.Fatalf("limit %d: revision %d more %v, History: %d %v", limit, got.Revision, got.More, want.Revision, want.More)
		}
		if limit == 0 {
			if len(pages) == 0 || len(pages[0]) == 0 || pages[0][0].Text != "from the future, early" {
				t.Fatalf("the whole history did not start with its oldest message")
			}
			joined := strings.Join(got.Warnings, "\n")
			for _, w := range []string{"1 message from alice is missing", "is dated", "from mallory"} {
				if !strings.Contains(joined, w) {
					t.Fatalf("warnings %q lack %q", got.Warnings, w)
				}
			}
		}
	}
	if _, err := e.login("outsider").StreamForward(c, "r", chat.StreamOptions{}, func(*chat.Page) error { return nil }); err == nil {
		t.Fatal("a non-member streamed the room")
	}
	stop := fmt.Errorf("enough")
	if _, err := reader.StreamForward(c, "r", chat.StreamOptions{}, func(*chat.Page) error { return stop }); err != stop {
		t.Fatalf("an error of each came back as %v", err)
	}
	cctx, cancel := context.WithCancel(c)
	_, err := reader.StreamForward(cctx, "r", chat.StreamOptions{}, func(*chat.Page) error { cancel(); return nil })
	if err == nil {
		t.Fatal("a cancelled stream went on")
	}
}

// flowHistoryCutShortFails: a read whose context ends midway fails; it
// never returns the pages read so far as if they were the whole history
// (the page reader stopped without a word, and the history looked
// complete).
func flowHistoryCutShortFails(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	groupOf(t, "r", alice)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 500 { // 8000 messages: four pages
				if _, err := alice.Send(c, "r", fmt.Sprintf("%d.%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for range 10 {
		rctx, cancel := context.WithCancel(c)
		shown := 0
		p, err := alice.StreamHistory(rctx, "r", 0, func(p *chat.Page) error {
			shown += len(p.Messages)
			cancel() // as a deadline passing
			return nil
		})
		cancel()
		if err == nil {
			t.Fatalf("a read cut short after %d messages returned %d warnings and no error", shown, len(p.Warnings))
		}
	}
}

// jumpHeads starts every chain of its user at seq: a member whose client
// numbers its messages as it pleases.
type jumpHeads struct {
	mu  sync.Mutex
	seq uint64
	m   map[string]chat.ChainHead
}

func (h *jumpHeads) Advance(room string, fn func(chat.ChainHead, bool) (chat.ChainHead, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.m[room]
	if !ok {
		cur, ok = chat.ChainHead{Seq: h.seq}, true
	}
	next, err := fn(cur, ok)
	if err != nil {
		return err
	}
	h.m[room] = next
	return nil
}

func (h *jumpHeads) Head(room string) (chat.ChainHead, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.m[room]
	return cur, ok, nil
}

// flowHugeSequenceNumber: a member who numbers a message 2^40 costs a
// reader a warning, not a walk through every number below it.
func flowHugeSequenceNumber(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	id, err := crypto.NewIdentity("mallory")
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := chat.Login(c, e.st, id, chat.Options{Heads: &jumpHeads{seq: 1 << 40, m: map[string]chat.ChainHead{}}})
	if err != nil {
		t.Fatal(err)
	}
	groupOf(t, "r", alice, mallory)
	m := mustSend(t, mallory, "r", "number two to the fortieth")
	if m.Seq != 1<<40+1 {
		t.Fatalf("mallory's message is numbered %d", m.Seq)
	}
	type result struct {
		p   *chat.Page
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := alice.History(c, "r", 0)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if want := "1099511627776 messages from mallory are missing"; !slices.Contains(r.p.Warnings, want) {
			t.Fatalf("warnings %q, want %q", r.p.Warnings, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("History still counting mallory's numbers after 20s")
	}
	_, p := streamed(t, alice, "r", 0)
	if want := "1099511627776 messages from mallory are missing"; !slices.Contains(p.Warnings, want) {
		t.Fatalf("StreamForward warnings %q, want %q", p.Warnings, want)
	}
}

// flowStreamForwardNewMember: a member approved after StreamForward read
// the room's state, whose message the index then finds, is judged with the
// newer state, not rejected as sealed under a commit the chain lacks.
func flowStreamForwardNewMember(t *testing.T, e *env) {
	c := ctx(t)
	alice, carol := e.login("alice"), e.login("carol")
	groupOf(t, "r", alice)
	mustSend(t, alice, "r", "before carol")
	if err := carol.RequestJoin(c, "r"); err != nil {
		t.Fatal(err)
	}
	once := false
	var got []chat.Message
	p, err := alice.StreamForward(c, "r", chat.StreamOptions{Progress: func() {
		if once {
			return
		}
		once = true // the state is read: carol comes in and talks
		if err := alice.Approve(c, "r", "carol"); err != nil {
			t.Error(err)
		}
		mustSend(t, carol, "r", "carol here")
	}}, func(p *chat.Page) error {
		got = append(got, p.Messages...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Text != "carol here" || got[1].Rejected != "" {
		t.Fatalf("streamed %q, want carol's message accepted", texts(&chat.Page{Messages: got}))
	}
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings %q", p.Warnings)
	}
}
