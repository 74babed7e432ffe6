//go:build unix

package clustertest

import (
	"context"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/testkit"
)

// TestOutboxLateCommit sends through the leader just after three of five
// followers died: the leader still takes the write into its log but
// cannot commit it, so the send gives up and queues the message. When the
// followers return, the leader's log, write included, is committed; the
// queued message must then not be stored a second time.
func TestOutboxLateCommit(t *testing.T) {
	h := newHarness(t)
	c := h.startCluster(5, clusterOpts{})
	leader := c.leader()
	st, err := store.Open(store.Config{Endpoints: []string{leader.clientURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := crypto.NewIdentity("late")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	svc, err := chat.Login(ctx, st, id, chat.Options{Outbox: &testkit.Outbox{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	var sends []Send
	record := func(text string, m chat.Message, err error, invoke time.Time) {
		s := Send{Client: "late", Text: text, Invoke: invoke, Return: time.Now()}
		switch {
		case err != nil:
		case m.Pending:
			s.Outcome, s.ID = Queued, m.ID
		default:
			s.Outcome, s.ID, s.Revision = Sent, m.ID, m.Revision
		}
		sends = append(sends, s)
	}
	began := time.Now()
	m, err := svc.SendOrQueue(ctx, "r", "before", 2*time.Second)
	record("before", m, err, began)

	var down []*member
	for _, m := range c.members {
		if m != leader && len(down) < 3 {
			down = append(down, m)
		}
	}
	for _, m := range down {
		m.kill()
	}
	began = time.Now()
	m, err = svc.SendOrQueue(ctx, "r", "during", 2*time.Second)
	record("during", m, err, began)
	if !m.Pending {
		t.Fatalf("send without quorum: pending %v, err %v", m.Pending, err)
	}
	for _, m := range down {
		c.restart(m)
	}
	c.waitHealthy(5, time.Minute)
	if _, err := svc.DeliverOutbox(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := svc.History(ctx, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := Read{Client: "late", Warnings: page.Warnings}
	for _, m := range page.Messages {
		r.Messages = append(r.Messages, Message{ID: m.ID, Sender: m.Sender, Text: m.Text, Revision: m.Revision, Rejected: m.Rejected})
	}
	checkHistory(t, History{Sends: sends, Reads: []Read{r}})
}
