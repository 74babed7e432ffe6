package clustertest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// t0 is the start of every hand-made history.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// sent is a send acknowledged at revision rev, running from invoke to ret
// (in ms after t0).
func sent(client, text string, invoke, ret int, rev int64) Send {
	return Send{Client: client, Text: text, Invoke: at(invoke), Return: at(ret), Outcome: Sent, ID: "id-" + text, Revision: rev}
}

func queued(client, text string, invoke, ret int) Send {
	return Send{Client: client, Text: text, Invoke: at(invoke), Return: at(ret), Outcome: Queued, ID: "id-" + text}
}

func unknown(client, text string, invoke, ret int) Send {
	return Send{Client: client, Text: text, Invoke: at(invoke), Return: at(ret), Outcome: Unknown}
}

func msg(sender, text string, rev int64) Message {
	return Message{ID: "id-" + text, Sender: sender, Text: text, Revision: rev}
}

// same returns the reads of every client, all holding msgs.
func same(msgs []Message, clients ...string) []Read {
	var out []Read
	for _, c := range clients {
		out = append(out, Read{Client: c, Messages: slices.Clone(msgs)})
	}
	return out
}

// good is a valid history of two clients, with a queued send, a send of
// unknown outcome that was stored and one that was not.
func good() History {
	sends := []Send{
		sent("a", "a1", 0, 10, 5),
		sent("b", "b1", 2, 12, 6),   // concurrent with a1
		sent("a", "a2", 11, 20, 8),  // after a1
		sent("b", "b2", 13, 16, 7),  // concurrent with a2, stored first
		unknown("a", "a3", 21, 40),  // stored
		queued("b", "b3", 17, 30),   // delivered later
		unknown("b", "b4", 31, 50),  // never stored
		sent("a", "a4", 41, 60, 12), // after the queued b3 was delivered
	}
	msgs := []Message{
		msg("a", "a1", 5), msg("b", "b1", 6), msg("b", "b2", 7), msg("a", "a2", 8),
		msg("a", "a3", 9), msg("b", "b3", 11), msg("a", "a4", 12),
	}
	return History{
		Sends: sends,
		Reads: same(msgs, "a", "b"),
		Streams: []Stream{
			{Read: Read{Client: "a", Messages: slices.Clone(msgs)}, Complete: true},
			{Read: Read{Client: "b", Messages: slices.Clone(msgs[2:5])}},
		},
	}
}

func TestCheckAcceptsValidHistories(t *testing.T) {
	if err := Check(good()); err != nil {
		t.Fatalf("valid history rejected: %v", err)
	}
	// An unknown send may be absent, and a history may be empty of sends.
	h := good()
	h.Reads = same(slices.DeleteFunc(slices.Clone(h.Reads[0].Messages), func(m Message) bool { return m.Text == "a3" }), "a", "b")
	h.Streams = nil
	if err := Check(h); err != nil {
		t.Fatalf("history without an unknown send rejected: %v", err)
	}
	if err := Check(History{Reads: []Read{{Client: "a"}}}); err != nil {
		t.Fatalf("empty history rejected: %v", err)
	}
	// Messages written in one transaction share its revision and are
	// ordered by ID, descending.
	h = History{
		Sends: []Send{sent("a", "x", 0, 10, 7), sent("a", "y", 0, 10, 7)},
		Reads: []Read{{Client: "a", Messages: []Message{msg("a", "y", 7), msg("a", "x", 7)}}},
	}
	if err := Check(h); err != nil {
		t.Fatalf("one transaction's messages rejected: %v", err)
	}
	h.Reads[0].Messages[0], h.Reads[0].Messages[1] = h.Reads[0].Messages[1], h.Reads[0].Messages[0]
	if err := Check(h); err == nil {
		t.Fatal("one transaction's messages accepted in ascending ID order")
	}
}

// Each mutation of the valid history must be caught, at least as the
// kinds named.
func TestCheckRejectsBrokenHistories(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(h *History)
		want   []string
	}{
		{"acknowledged send lost", func(h *History) {
			for i := range h.Reads {
				h.Reads[i].Messages = slices.DeleteFunc(h.Reads[i].Messages, func(m Message) bool { return m.Text == "a2" })
			}
		}, []string{"lost"}},
		{"lost for one reader only", func(h *History) {
			h.Reads[1].Messages = slices.Delete(h.Reads[1].Messages, 0, 1)
		}, []string{"lost", "order"}},
		{"queued send never delivered", func(h *History) {
			for i := range h.Reads {
				h.Reads[i].Messages = slices.DeleteFunc(h.Reads[i].Messages, func(m Message) bool { return m.Text == "b3" })
			}
			h.Streams = nil
		}, []string{"lost"}},
		{"duplicated", func(h *History) {
			for i := range h.Reads {
				d := h.Reads[i].Messages[1]
				d.ID, d.Revision = "id-again", 100
				h.Reads[i].Messages = append(h.Reads[i].Messages, d)
			}
		}, []string{"duplicate"}},
		{"unknown send stored twice", func(h *History) {
			for i := range h.Reads {
				d := msg("a", "a3", 100)
				d.ID = "id-a3-again"
				h.Reads[i].Messages = append(h.Reads[i].Messages, d)
			}
		}, []string{"duplicate"}},
		{"phantom", func(h *History) {
			for i := range h.Reads {
				h.Reads[i].Messages = append(h.Reads[i].Messages, msg("a", "never sent", 100))
			}
		}, []string{"phantom"}},
		{"wrong sender", func(h *History) {
			for i := range h.Reads {
				h.Reads[i].Messages[0].Sender = "b"
			}
		}, []string{"phantom"}},
		{"wrong revision", func(h *History) {
			h.Sends[0].Revision = 4
		}, []string{"mismatch"}},
		{"queued under another ID", func(h *History) {
			h.Sends[5].ID = "id-other"
		}, []string{"mismatch"}},
		{"readers disagree on the order", func(h *History) {
			m := h.Reads[1].Messages
			m[1], m[2] = m[2], m[1]
			m[1].Revision, m[2].Revision = m[2].Revision, m[1].Revision
		}, []string{"order"}},
		{"not in revision order", func(h *History) {
			for i := range h.Reads {
				m := h.Reads[i].Messages
				m[1], m[2] = m[2], m[1]
			}
		}, []string{"order"}},
		{"one sender's sends reordered", func(h *History) {
			// a2 was invoked after a1 returned, yet stored before it.
			h.Sends[0].Revision, h.Sends[2].Revision = 8, 5
			for i := range h.Reads {
				m := h.Reads[i].Messages
				m[0], m[3] = msg("a", "a2", 5), msg("a", "a1", 8)
			}
			h.Streams = nil
		}, []string{"sender-order"}},
		{"queued send delivered after a later send", func(h *History) {
			// b3 was queued, then a4 ... and b's next send b5 went first.
			h.Sends = append(h.Sends, sent("b", "b5", 51, 55, 10))
			for i := range h.Reads {
				h.Reads[i].Messages = slices.Insert(h.Reads[i].Messages, 5, msg("b", "b5", 10))
			}
			h.Streams = nil
		}, []string{"sender-order"}},
		{"writes not linearizable across clients", func(h *History) {
			// c1 began after a4 returned, yet was stored before it.
			h.Sends = append(h.Sends, sent("c", "c1", 61, 70, 10))
			for i := range h.Reads {
				h.Reads[i].Messages = slices.Insert(h.Reads[i].Messages, 5, msg("c", "c1", 10))
			}
			h.Streams = nil
		}, []string{"realtime"}},
		{"stream with a gap", func(h *History) {
			h.Streams[0].Messages = slices.Delete(h.Streams[0].Messages, 3, 4)
		}, []string{"stream"}},
		{"stream with a repeat", func(h *History) {
			s := h.Streams[1].Messages
			h.Streams[1].Messages = append(s, s[len(s)-1])
		}, []string{"duplicate", "order", "stream"}},
		{"complete stream cut short", func(h *History) {
			h.Streams[0].Messages = h.Streams[0].Messages[:4]
		}, []string{"stream"}},
		{"rejected record", func(h *History) {
			h.Reads[0].Messages[0].Rejected = "signature does not verify"
		}, []string{"lost", "rejected"}},
		{"tampering warning", func(h *History) {
			h.Reads[0].Warnings = []string{"1 message from a is missing"}
		}, []string{"warning"}},
		{"no reads", func(h *History) {
			h.Reads, h.Streams = nil, nil
		}, []string{"history"}},
		{"sent without revision", func(h *History) {
			h.Sends[0].Revision = 0
		}, []string{"history", "mismatch"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := good()
			c.mutate(&h)
			err := Check(h)
			var v *Violations
			if !errors.As(err, &v) {
				t.Fatalf("Check accepted the history (err %v)", err)
			}
			for _, k := range c.want {
				if v.Counts[k] == 0 {
					t.Errorf("no %s violation found:\n%v", k, err)
				}
			}
		})
	}
}

// The number of violations reported of one kind is bounded.
func TestCheckBoundsReport(t *testing.T) {
	var h History
	for i := range 50 {
		h.Sends = append(h.Sends, sent("a", fmt.Sprint("m", i), 10*i, 10*i+5, int64(i+1)))
	}
	h.Reads = []Read{{Client: "a"}}
	var v *Violations
	if !errors.As(Check(h), &v) {
		t.Fatal("50 lost messages accepted")
	}
	if v.Counts["lost"] != 50 || len(v.List) != maxPerKind {
		t.Fatalf("counts %v, %d listed", v.Counts, len(v.List))
	}
}
