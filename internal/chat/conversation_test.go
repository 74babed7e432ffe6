package chat_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// flowConversationEvents writes every kind of event, reads it back raw and
// folded, and refuses what is not allowed: an edit or deletion of someone
// else's message, an event naming a message of another room.
func flowConversationEvents(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.process(e.person("alice")), e.process(e.person("bob"))
	groupOf(t, "r", alice, bob)
	groupOf(t, "other", alice)
	q := mustSend(t, alice, "r", "lunch?")
	elsewhere := mustSend(t, alice, "other", "elsewhere")
	if _, err := bob.Reply(c, "r", q.ID, "yes"); err != nil {
		t.Fatal(err)
	}
	mine := mustSend(t, bob, "r", "at noon")
	if _, err := bob.Edit(c, "r", mine.ID, "at one"); err != nil {
		t.Fatal(err)
	}
	oops := mustSend(t, bob, "r", "oops")
	if _, err := bob.Delete(c, "r", oops.ID); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*chat.Service{alice, bob} {
		if _, err := s.React(c, "r", q.ID, "👍"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.React(c, "r", mine.ID, "🎉"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.React(c, "r", mine.ID, "🎉"); err != nil { // again: taken back
		t.Fatal(err)
	}
	if _, err := alice.SetTopic(c, "r", "food"); err != nil {
		t.Fatal(err)
	}

	// Refused before anything is written.
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"edit someone else's", func() error { _, err := bob.Edit(c, "r", q.ID, "no"); return err }(), chat.ErrNotYours},
		{"delete someone else's", func() error { _, err := alice.Delete(c, "r", mine.ID); return err }(), chat.ErrNotYours},
		{"reply into another room", func() error { _, err := bob.Reply(c, "r", elsewhere.ID, "x"); return err }(), chat.ErrNoTarget},
		{"react to nothing", func() error {
			_, err := bob.React(c, "r", crypto.NewMessageID(time.Now()).String(), "👍")
			return err
		}(), chat.ErrNoTarget},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	for _, bad := range []string{"ok", "👍👍", "", "\x1b"} {
		if _, err := bob.React(c, "r", q.ID, bad); err == nil {
			t.Errorf("reaction %q accepted", bad)
		}
	}
	if _, err := alice.SetTopic(c, "r", strings.Repeat("x", chat.MaxTopicBytes+1)); err == nil {
		t.Error("an over-long topic was accepted")
	}

	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []chat.Kind
	for _, m := range p.Messages {
		if m.Rejected != "" {
			t.Fatalf("rejected: %+v", m)
		}
		kinds = append(kinds, m.Kind)
	}
	want := []chat.Kind{chat.KindText, chat.KindReply, chat.KindText, chat.KindEdit, chat.KindText, chat.KindDelete, chat.KindReaction, chat.KindReaction, chat.KindReaction, chat.KindReaction, chat.KindTopic}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	folded := chat.Fold(p.Messages)
	byID := map[string]chat.Message{}
	for _, m := range folded {
		byID[m.ID] = m
	}
	if m := byID[q.ID]; m.Reactions["👍"] != 2 {
		t.Errorf("reactions on the question: %v", m.Reactions)
	}
	if m := byID[mine.ID]; m.Text != "at one" || !m.Edited || len(m.Reactions) != 0 {
		t.Errorf("edited message: %+v", m)
	}
	if m := byID[oops.ID]; !m.Deleted || m.Text != "" {
		t.Errorf("deleted message: %+v", m)
	}
	var reply chat.Message
	for _, m := range folded {
		if m.Kind == chat.KindReply {
			reply = m
		}
		if m.Kind == chat.KindEdit || m.Kind == chat.KindDelete || m.Kind == chat.KindReaction {
			t.Errorf("an event survived folding: %+v", m)
		}
	}
	if reply.Quote == nil || reply.Quote.Text != "lunch?" {
		t.Errorf("reply quote: %+v", reply.Quote)
	}
	if last := folded[len(folded)-1]; last.Kind != chat.KindTopic || last.Topic != "food" {
		t.Errorf("topic: %+v", last)
	}

	// A forged edit (bob's message edited in alice's name would need her
	// key; alice editing bob's message through etcd directly) is rejected.
	forgeEvent(t, e, alice, "r", 0x03, mine.ID, "hacked")
	p, _ = bob.History(c, "r", 0)
	found := false
	for _, m := range p.Messages {
		if m.Kind == chat.KindEdit && m.Sender == "alice" {
			found = true
			if !strings.Contains(m.Rejected, "edit of a message of bob") {
				t.Errorf("alice's edit of bob's message: %q", m.Rejected)
			}
		}
	}
	if !found {
		t.Fatal("the forged edit is not in the history")
	}
	for _, m := range chat.Fold(p.Messages) {
		if m.ID == mine.ID && m.Text != "at one" {
			t.Errorf("the forged edit changed bob's message: %q", m.Text)
		}
	}
}

// forgeEvent has s send, bypassing its own checks, an event of the given
// payload tag on target: what a modified client could write.
func forgeEvent(t *testing.T, e *env, s *chat.Service, room string, tag byte, target, text string) {
	t.Helper()
	id, _ := crypto.ParseMessageID(target)
	body := append(append([]byte{tag}, id[:]...), text...)
	if _, err := chat.SendRaw(ctx(t), s, names.Room(room), body); err != nil {
		t.Fatal(err)
	}
}

// flowDisappearingMessages: with the setting on, messages are bound to a
// lease and the cluster deletes them on time; a second client sees them go
// with no "missing" or "deleted" warning, while a message deleted early is
// still reported.
func flowDisappearingMessages(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.process(e.person("alice")), e.process(e.person("bob"))
	groupOf(t, "r", alice, bob)
	if err := alice.SetDisappear(c, "r", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if ri, _ := bob.Room(c, "r"); ri.DisappearSeconds != 3 {
		t.Fatalf("bob sees disappear = %d", ri.DisappearSeconds)
	}
	sub, err := bob.Subscribe(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "r", "soon gone 1")
	mustSend(t, alice, "r", "soon gone 2")
	// Wait until the cluster has deleted both (bounded by the lease).
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := e.st.CountMessages(c, "r")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still there", n)
		}
		select {
		case <-sub:
		case <-time.After(100 * time.Millisecond):
		}
	}
	last := mustSend(t, alice, "r", "still here")
	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings after messages disappeared on time: %q", p.Warnings)
	}
	// The live client saw two deletions on time: no warning.
	for {
		select {
		case ev := <-sub:
			if ev.Kind == chat.EventWarning {
				t.Fatalf("live warning: %s", ev.Text)
			}
			if ev.Kind == chat.EventMessage && ev.Message.ID == last.ID {
				goto early
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the last message did not arrive live")
		}
	}
early:
	// One deleted before its time is reported (with messages that live
	// long enough for the check not to race their leases).
	if err := alice.SetDisappear(c, "r", time.Hour); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "r", "kept")
	mustSend(t, alice, "r", "deleted early")
	mustSend(t, alice, "r", "after it")
	p, _ = alice.History(c, "r", 0)
	for _, m := range p.Messages {
		if m.Text == "deleted early" {
			e.raw().Delete(c, store.Prefix+"room/r/m/"+m.ID)
		}
	}
	p, _ = bob.History(c, "r", 0)
	if !slices.Contains(p.Warnings, "1 message from alice is missing") {
		t.Fatalf("warnings = %q, want the early deletion flagged", p.Warnings)
	}
}
