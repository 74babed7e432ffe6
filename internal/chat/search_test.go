package chat_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

func TestMentions(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"hi @bob", []string{"bob"}},
		{"@Bob, @alice and @bob again", []string{"bob", "alice"}},
		{"thanks @bob.", []string{"bob"}},
		{"(@carol)", []string{"carol"}},
		{"mail bob@example.com", nil},
		{"@@bob", nil},
		{"@ bob", nil},
		{"@", nil},
		{"@-x", nil},
		{"@ｂｏｂ", []string{"bob"}},
		{"@a.b_c-d!", []string{"a.b_c-d"}},
		{"@" + string(make([]byte, 0)) + "日本", []string{"日本"}},
	} {
		if got := chat.Mentions(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Mentions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMessageMentions(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    chat.Message
		want bool
	}{
		{"mention", chat.Message{Kind: chat.KindText, Sender: "alice", Text: "@bob look"}, true},
		{"none", chat.Message{Kind: chat.KindText, Sender: "alice", Text: "bob look"}, false},
		{"my own", chat.Message{Kind: chat.KindText, Sender: "bob", Text: "@bob"}, false},
		{"reply to mine", chat.Message{Kind: chat.KindReply, Sender: "alice", Text: "yes", Quote: &chat.Quote{Sender: "bob"}}, true},
		{"reply to another", chat.Message{Kind: chat.KindReply, Sender: "alice", Text: "yes", Quote: &chat.Quote{Sender: "carol"}}, false},
		{"edit", chat.Message{Kind: chat.KindEdit, Sender: "alice", Text: "@bob"}, false},
		{"rejected", chat.Message{Kind: chat.KindText, Sender: "alice", Text: "@bob", Rejected: "forged"}, false},
	} {
		if got := tt.m.Mentions("bob"); got != tt.want {
			t.Errorf("%s: Mentions(bob) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestQuerySpans(t *testing.T) {
	if _, err := chat.ParseQuery("  \t "); !errors.Is(err, chat.ErrEmptyQuery) {
		t.Fatalf("ParseQuery(blank) = %v, want ErrEmptyQuery", err)
	}
	for _, tt := range []struct {
		q, text string
		match   bool
		spans   [][2]int
	}{
		{"lunch", "Lunch at noon? lunch!", true, [][2]int{{0, 5}, {15, 20}}},
		{"lunch noon", "Lunch at noon", true, [][2]int{{0, 5}, {9, 13}}},
		{"lunch dinner", "Lunch at noon", false, [][2]int{{0, 5}}},
		{"ab bc", "abc", true, [][2]int{{0, 3}}},
		{"ÉTÉ", "un été chaud", true, [][2]int{{3, 8}}},
		{"日本", "日本語もOK", true, [][2]int{{0, 6}}},
		{"x", "", false, nil},
	} {
		q, err := chat.ParseQuery(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Match(tt.text); got != tt.match {
			t.Errorf("Query(%q).Match(%q) = %v, want %v", tt.q, tt.text, got, tt.match)
		}
		if got := q.Spans(tt.text); !slices.Equal(got, tt.spans) {
			t.Errorf("Query(%q).Spans(%q) = %v, want %v", tt.q, tt.text, got, tt.spans)
		}
	}
}

// Search finds messages by their final text, newest first, and topics;
// a deleted message is not found, an edited one by its new text only.
// Topic finds the newest topic; a reply quotes its target as it stands.
func TestSearchTopicAndQuotes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	alice, bob := e.process(e.person("alice")), e.process(e.person("bob"))
	groupOf(t, "r", alice, bob)
	if _, found, err := bob.Topic(c, "r"); err != nil || found {
		t.Fatalf("Topic of a room with none = %v, %v", found, err)
	}
	q := mustSend(t, alice, "r", "Lunch at noon?")
	if _, err := bob.Reply(c, "r", q.ID, "lunch is good"); err != nil {
		t.Fatal(err)
	}
	gone := mustSend(t, bob, "r", "lunch secret")
	if _, err := bob.Delete(c, "r", gone.ID); err != nil {
		t.Fatal(err)
	}
	ed := mustSend(t, bob, "r", "dinner")
	if _, err := bob.Edit(c, "r", ed.ID, "late lunch"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Edit(c, "r", q.ID, "Lunch at one?"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetTopic(c, "r", "first topic"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetTopic(c, "r", "lunch plans"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "r", "unrelated")

	query, _ := chat.ParseQuery("LUNCH")
	res, err := bob.Search(c, "r", query)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Matches {
		got = append(got, m.Text+m.Topic)
	}
	want := []string{"lunch plans", "late lunch", "lunch is good", "Lunch at one?"}
	if !slices.Equal(got, want) {
		t.Errorf("Search(lunch) = %q, want %q (newest first)", got, want)
	}
	if res.Searched != 6 {
		t.Errorf("Searched = %d, want 6 (4 messages and 2 topics; not the deleted one)", res.Searched)
	}
	if _, err := chat.ParseQuery(""); err == nil {
		t.Error("an empty query was accepted")
	}

	topic, found, err := bob.Topic(c, "r")
	if err != nil || !found || topic.Topic != "lunch plans" || topic.Sender != "alice" {
		t.Errorf("Topic = %+v, %v, %v", topic, found, err)
	}

	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range chat.Fold(p.Messages) {
		if m.Kind == chat.KindReply && (m.Quote == nil || m.Quote.Text != "Lunch at one?") {
			t.Errorf("the reply quotes %+v, want the edited question", m.Quote)
		}
	}
	// A reply to a message deleted later quotes it as deleted.
	r2, err := alice.Reply(c, "r", ed.ID, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Delete(c, "r", ed.ID); err != nil {
		t.Fatal(err)
	}
	p, _ = bob.History(c, "r", 0)
	for _, m := range chat.Fold(p.Messages) {
		if m.ID == r2.ID && (m.Quote == nil || !m.Quote.Deleted || m.Quote.Text != "") {
			t.Errorf("a reply to a deleted message quotes %+v", m.Quote)
		}
	}
}

// SendOrQueueID and ReplyID keep the id the front end chose.
func TestChosenIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	alice := e.process(e.person("alice"))
	groupOf(t, "r", alice)
	id := chat.NewMessageID()
	m, err := alice.SendOrQueueID(c, "r", id, "named", time.Second)
	if err != nil || m.ID != id {
		t.Fatalf("SendOrQueueID = %s, %v; want id %s", m.ID, err, id)
	}
	rid := chat.NewMessageID()
	r, err := alice.ReplyID(c, "r", rid, id, "answer")
	if err != nil || r.ID != rid || r.Kind != chat.KindReply || r.ReplyTo != id {
		t.Fatalf("ReplyID = %+v, %v", r, err)
	}
}

// The size of conversation events in etcd: an envelope is
// crypto.EnvelopeOverhead + the sender's name + the payload.
func TestEventSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	alice := e.process(e.person("alice"))
	groupOf(t, "r", alice)
	q := mustSend(t, alice, "r", "hello")
	re, err := alice.React(c, "r", q.ID, "👍")
	if err != nil {
		t.Fatal(err)
	}
	ed, err := alice.Edit(c, "r", q.ID, "hello, world")
	if err != nil {
		t.Fatal(err)
	}
	size := func(id string) int {
		raw, err := e.st.Message(c, "r", id)
		if err != nil {
			t.Fatal(err)
		}
		return len(raw.Value)
	}
	name := len("alice")
	// reaction: kind, target id, op, emoji; edit: kind, target id, text.
	if got, want := size(re.ID), crypto.EnvelopeOverhead+name+1+16+1+len("👍"); got != want {
		t.Errorf("a reaction takes %d bytes, want %d", got, want)
	}
	if got, want := size(ed.ID), crypto.EnvelopeOverhead+name+1+16+len("hello, world"); got != want {
		t.Errorf("an edit takes %d bytes, want %d", got, want)
	}
	t.Logf("reaction 👍 by alice: %d bytes (%d + name + 22); edit by alice to %d bytes of text: %d bytes (%d + name + 17 + text)",
		size(re.ID), crypto.EnvelopeOverhead, len("hello, world"), size(ed.ID), crypto.EnvelopeOverhead)
}

// BenchmarkSearch measures a search of a whole room (read, verified,
// decrypted, folded, matched) of 10,000 and 100,000 messages in a client
// that read the room before (its verified-digest cache filled), and in a
// fresh one.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			eps := storetest.StartEmbedded(b)
			st, err := store.Open(store.Config{Endpoints: eps})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			id, _ := crypto.NewIdentity("alice")
			cache := newMemVerified()
			s, err := chat.Login(ctx, st, id, chat.Options{Verified: cache})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.CreateRoom(ctx, "r"); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := w; i < n; i += 16 {
						text := fmt.Sprintf("message %d about the weather and nothing else, padded to a usual length of a chat line", i)
						if i%1000 == 7 {
							text = fmt.Sprintf("message %d: the needle is here", i)
						}
						if _, err := s.Send(ctx, "r", text); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			q, _ := chat.ParseQuery("needle")
			if _, err := s.History(ctx, "r", 0); err != nil { // fills the cache
				b.Fatal(err)
			}
			for _, name := range []string{"cached", "fresh"} {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						opts := chat.Options{Verified: cache}
						if name == "fresh" {
							opts.Verified = newMemVerified()
						}
						c, err := chat.Login(ctx, st, id, opts)
						if err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						res, err := c.Search(ctx, "r", q)
						if err != nil || len(res.Matches) != n/1000 {
							b.Fatalf("found %d, %v", len(res.Matches), err)
						}
					}
				})
			}
		})
	}
}

func newMemVerified() *memVerified { return &memVerified{m: map[[16]byte]bool{}} }
