package chat_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/internal/testkit"
)

// offlineLogin logs id in through a store that reaches no cluster, as a
// process started while the cluster is away, sharing ob.
func offlineLogin(t *testing.T, id *crypto.Identity, ob chat.Outbox) *chat.Service {
	t.Helper()
	dead, err := store.Open(store.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	lctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	s, err := chat.Login(lctx, dead, id, chat.Options{Outbox: ob, Claimed: true})
	if err != nil {
		t.Fatalf("offline login with a confirmed identity: %v", err)
	}
	return s
}

// runOutbox runs s.RunOutbox until the test ends and reports what it
// delivers on the returned channel.
func runOutbox(t *testing.T, s *chat.Service) <-chan chat.Message {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	delivered := make(chan chat.Message, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunOutbox(ctx, func(m chat.Message) { delivered <- m })
	}()
	t.Cleanup(func() { stop(); <-done })
	return delivered
}

// waitDelivered waits for n deliveries, for at most d.
func waitDelivered(t *testing.T, ch <-chan chat.Message, n int, d time.Duration) []chat.Message {
	t.Helper()
	var got []chat.Message
	deadline := time.After(d)
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("%d of %d queued messages delivered after %v", len(got), n, d)
		}
	}
	return got
}

// A running outbox with nothing to do still delivers, within seconds, what
// another process of the same user queued in the same outbox (it used to
// sleep an hour once its outbox was empty).
func TestRunOutboxDeliversWhatAnotherProcessQueued(t *testing.T) {
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	id, _ := crypto.NewIdentity("alice")
	ob := &testkit.Outbox{}
	online, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := online.CreateRoom(c, "r"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, online, "r", "before")
	delivered := runOutbox(t, online)

	other := offlineLogin(t, id, ob)
	m, err := other.SendOrQueue(c, "r", "from another process", 300*time.Millisecond)
	if err != nil || !m.Pending {
		t.Fatalf("SendOrQueue offline = %+v, %v; want pending", m, err)
	}
	if got := waitDelivered(t, delivered, 1, 20*time.Second); got[0].ID != m.ID {
		t.Fatalf("delivered %+v, want %s", got[0], m.ID)
	}
	p, err := online.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: before", "alice: from another process"}; !slices.Equal(got, want) || len(p.Warnings) != 0 {
		t.Fatalf("history = %q, warnings %q; want %q", got, p.Warnings, want)
	}
}

// Queueing a message costs no listing of the outbox: the count of waiting
// messages is kept in memory (it used to read every entry for every
// message), and what is queued keeps its order however fast it comes.
func TestSendOrQueueListsTheOutboxOnce(t *testing.T) {
	c := ctx(t)
	id, _ := crypto.NewIdentity("alice")
	ob := &testkit.Outbox{}
	offline := offlineLogin(t, id, ob)
	var want []string
	for i := range 30 {
		text := "queued " + strings.Repeat("i", i+1)
		want = append(want, text)
		m, err := offline.SendOrQueue(c, "r", text, 300*time.Millisecond)
		if err != nil || !m.Pending {
			t.Fatalf("SendOrQueue %d offline = %+v, %v; want pending", i, m, err)
		}
	}
	lists := ob.Lists()
	if lists > 1 {
		t.Fatalf("30 messages queued with %d listings of the outbox, want at most 1", lists)
	}
	p, err := offline.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range p {
		got = append(got, m.Text)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("outbox holds %q, want %q in that order", got, want)
	}
}

// An outbox that cannot be listed is not taken for an empty one: the send
// fails rather than jump ahead of messages that may be waiting.
func TestSendOrQueueUnreadableOutboxIsNotEmpty(t *testing.T) {
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	id, _ := crypto.NewIdentity("alice")
	ob := &testkit.Outbox{}
	alice, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(c, "r"); err != nil {
		t.Fatal(err)
	}
	ob.FailList(errors.New("outbox: input/output error"))
	if m, err := alice.SendOrQueue(c, "r", "jumps the queue", time.Second); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("SendOrQueue with an unreadable outbox = %+v, %v; want its error", m, err)
	}
	p, err := alice.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(p); len(got) != 0 {
		t.Fatalf("sent with an unreadable outbox: %q", got)
	}
}

// Messages queued while the cluster is away go out on their own, in order
// and once each, as soon as it is back; the sends after them go direct.
func TestOutboxDrainsWhenTheClusterIsBack(t *testing.T) {
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	ob := &testkit.Outbox{}
	proxy, _, alice := loginThroughProxy(t, e, chat.Options{Outbox: ob})
	if _, err := alice.CreateRoom(c, "r"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "r", "before")
	delivered := runOutbox(t, alice)

	proxy.SetDown(true)
	var queued []string
	for _, text := range []string{"down 1", "down 2", "down 3"} {
		m, err := alice.SendOrQueue(c, "r", text, 300*time.Millisecond)
		if err != nil || !m.Pending {
			t.Fatalf("SendOrQueue %q with the cluster away = %+v, %v; want pending", text, m, err)
		}
		queued = append(queued, m.ID)
	}
	if n, down, err := alice.OutboxStatus(); n != 3 || !down || err != nil {
		t.Fatalf("OutboxStatus = %d, %v, %v; want 3 waiting, down", n, down, err)
	}
	proxy.SetDown(false)
	var got []string
	for _, m := range waitDelivered(t, delivered, 3, 30*time.Second) {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, queued) {
		t.Fatalf("delivered %q, want %q in that order", got, queued)
	}
	m, err := alice.SendOrQueue(c, "r", "back", 5*time.Second)
	if err != nil || m.Pending {
		t.Fatalf("SendOrQueue once delivered = %+v, %v; want sent", m, err)
	}
	p, err := alice.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice: before", "alice: down 1", "alice: down 2", "alice: down 3", "alice: back"}
	if got := texts(p); !slices.Equal(got, want) || len(p.Warnings) != 0 {
		t.Fatalf("history = %q, warnings %q; want %q", got, p.Warnings, want)
	}
}
