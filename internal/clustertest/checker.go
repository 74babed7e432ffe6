package clustertest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Outcome is what a sender learned of one send.
type Outcome int

const (
	// Unknown: the send failed or timed out. The message may or may not
	// have been stored, but at most once.
	Unknown Outcome = iota
	// Sent: acknowledged as stored, with an ID and a revision.
	Sent
	// Queued: acknowledged as kept in the sender's outbox (the cluster was
	// unavailable); it must be stored exactly once, later, with the ID it
	// was given.
	Queued
)

func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Queued:
		return "queued"
	default:
		return "unknown"
	}
}

// Send is one send as its client recorded it. A client's sends are
// sequential: each is invoked after the previous one returned.
type Send struct {
	Client string // the sender's user name
	Text   string // unique in the history; it identifies the send
	// Invoke is when the send began; Return when its result was known
	// (for a process: when it was started and when it exited).
	Invoke, Return time.Time
	Outcome        Outcome
	ID             string // the message ID the send returned (Sent, Queued)
	Revision       int64  // the revision the send returned (Sent)
}

// Message is one message as a reader saw it.
type Message struct {
	ID       string
	Sender   string
	Text     string
	Revision int64
	// Rejected is set when the reader rejected the record.
	Rejected string
}

// Read is what one client read.
type Read struct {
	Client   string
	Messages []Message
	// Warnings are the tampering warnings the reader reported (missing or
	// replayed messages of a sender).
	Warnings []string
}

// Stream is what a live reader (read --follow) printed: its history
// followed by the messages delivered live, across outages.
type Stream struct {
	Read
	// Complete says the stream ran until every send had been stored, so
	// it must end where the final reads end.
	Complete bool
}

// History is a test run: every send, each client's final read (taken after
// every send returned and every outbox was delivered), and the live
// streams.
type History struct {
	Sends   []Send
	Reads   []Read
	Streams []Stream
}

// maxPerKind bounds the violations reported of one kind.
const maxPerKind = 10

// Check judges h and returns every violation found, or nil:
//
//   - every Sent or Queued message is present exactly once in every final
//     read, with the ID it was acknowledged with (and, if Sent, at the
//     acknowledged revision); an Unknown send is present at most once;
//   - no read holds a message that was never sent, a message under the
//     wrong sender, a rejected record or a tampering warning;
//   - every final read holds the same messages in the same order, and that
//     order is by revision and, within a revision (one transaction), by ID
//     descending;
//   - for two acknowledged (Sent or Queued) sends of one client, the one
//     that returned before the other was invoked comes first;
//   - for two Sent sends of any clients, the one that returned before the
//     other was invoked has the lower revision (linearizability of the
//     writes);
//   - each stream is a gap-free, duplicate-free run of the final order,
//     ending at its end if it is complete.
func Check(h History) error {
	v := &Violations{Counts: map[string]int{}}
	sends := make(map[string]*Send, len(h.Sends))
	for i := range h.Sends {
		s := &h.Sends[i]
		if sends[s.Text] != nil {
			v.add("history", "two sends of the text %q", s.Text)
			continue
		}
		sends[s.Text] = s
		if s.Outcome != Unknown && s.ID == "" {
			v.add("history", "%s send %q has no ID", s.Outcome, s.Text)
		}
		if s.Outcome == Sent && s.Revision <= 0 {
			v.add("history", "sent %q has no revision", s.Text)
		}
		if s.Return.Before(s.Invoke) {
			v.add("history", "send %q returned before it was invoked", s.Text)
		}
	}
	if len(h.Reads) == 0 {
		v.add("history", "no final reads")
	}

	for _, r := range h.Reads {
		checkRead(v, r, sends, true)
	}
	for _, st := range h.Streams {
		checkRead(v, st.Read, sends, false)
	}

	// One order for everybody.
	if len(h.Reads) > 0 {
		ref := h.Reads[0]
		for _, r := range h.Reads[1:] {
			if i := firstDifference(ref.Messages, r.Messages); i >= 0 {
				v.add("order", "%s and %s read different histories from position %d: %s vs %s",
					ref.Client, r.Client, i, describeAt(ref.Messages, i), describeAt(r.Messages, i))
			}
		}
	}

	for _, r := range h.Reads {
		checkRealTime(v, r, h.Sends)
	}

	if len(h.Reads) > 0 {
		final := h.Reads[0].Messages
		for _, st := range h.Streams {
			checkStream(v, st, final)
		}
	}
	return v.err()
}

// checkRead checks one read against the sends. final reads must hold
// every acknowledged send; streams need not.
func checkRead(v *Violations, r Read, sends map[string]*Send, final bool) {
	seen := make(map[string]int, len(r.Messages))
	ids := make(map[string]int, len(r.Messages))
	for i, m := range r.Messages {
		if m.Rejected != "" {
			v.add("rejected", "%s read a rejected record %s at revision %d: %s", r.Client, m.ID, m.Revision, m.Rejected)
			continue
		}
		if i > 0 && !before(r.Messages[i-1], m) {
			v.add("order", "%s read %q (revision %d) after %q (revision %d)", r.Client, m.Text, m.Revision, r.Messages[i-1].Text, r.Messages[i-1].Revision)
		}
		if ids[m.ID]++; ids[m.ID] == 2 {
			v.add("duplicate", "%s read message ID %s more than once", r.Client, m.ID)
		}
		s := sends[m.Text]
		if s == nil {
			v.add("phantom", "%s read %q from %s (ID %s), which nobody sent", r.Client, m.Text, m.Sender, m.ID)
			continue
		}
		if seen[m.Text]++; seen[m.Text] == 2 {
			v.add("duplicate", "%s read %q (%s by %s) more than once", r.Client, m.Text, s.Outcome, s.Client)
		}
		if m.Sender != s.Client {
			v.add("phantom", "%s read %q as sent by %s; %s sent it", r.Client, m.Text, m.Sender, s.Client)
		}
		if s.Outcome != Unknown && m.ID != s.ID {
			v.add("mismatch", "%s read %q with ID %s; it was %s with ID %s", r.Client, m.Text, m.ID, s.Outcome, s.ID)
		}
		if s.Outcome == Sent && m.Revision != s.Revision {
			v.add("mismatch", "%s read %q at revision %d; it was acknowledged at revision %d", r.Client, m.Text, m.Revision, s.Revision)
		}
	}
	for _, w := range r.Warnings {
		v.add("warning", "%s was warned: %s", r.Client, w)
	}
	if !final {
		return
	}
	texts := make([]string, 0, len(sends))
	for t := range sends {
		texts = append(texts, t)
	}
	sort.Strings(texts)
	for _, t := range texts {
		if s := sends[t]; s.Outcome != Unknown && seen[t] == 0 {
			v.add("lost", "%s's read lacks %q, %s by %s at %s", r.Client, t, s.Outcome, s.Client, s.Return.Format("15:04:05.000"))
		}
	}
}

// checkRealTime checks the order of acknowledged sends in read r.
func checkRealTime(v *Violations, r Read, all []Send) {
	pos := make(map[string]int, len(r.Messages))
	rev := make(map[string]int64, len(r.Messages))
	for i, m := range r.Messages {
		if _, dup := pos[m.Text]; !dup {
			pos[m.Text], rev[m.Text] = i, m.Revision
		}
	}
	var acked []Send
	for _, s := range all {
		if _, ok := pos[s.Text]; ok && s.Outcome != Unknown {
			acked = append(acked, s)
		}
	}
	// Sorted by return, a send must precede every later-invoked send whose
	// invocation follows that return.
	slices.SortFunc(acked, func(a, b Send) int { return a.Return.Compare(b.Return) })
	for i, a := range acked {
		for _, b := range acked[i+1:] {
			if !a.Return.Before(b.Invoke) {
				continue
			}
			switch {
			case a.Client == b.Client && pos[a.Text] > pos[b.Text]:
				v.add("sender-order", "%s read %s's %q (returned %s) after %q (invoked %s later)", r.Client, a.Client, a.Text,
					a.Return.Format("15:04:05.000"), b.Text, b.Invoke.Format("15:04:05.000"))
			case a.Client != b.Client && a.Outcome == Sent && b.Outcome == Sent && rev[a.Text] > rev[b.Text]:
				v.add("realtime", "%s read %q (revision %d) after %q (revision %d), though %s's send returned before %s's began",
					r.Client, a.Text, rev[a.Text], b.Text, rev[b.Text], a.Client, b.Client)
			}
		}
	}
}

// checkStream checks that st is a contiguous run of final.
func checkStream(v *Violations, st Stream, final []Message) {
	msgs := st.Messages
	if len(msgs) == 0 {
		if st.Complete && len(final) > 0 {
			v.add("stream", "%s's stream is empty", st.Client)
		}
		return
	}
	start := slices.IndexFunc(final, func(m Message) bool { return m.ID == msgs[0].ID })
	if start < 0 {
		v.add("stream", "%s's stream starts with %q, which is not in the final reads", st.Client, msgs[0].Text)
		return
	}
	for i, m := range msgs {
		j := start + i
		if j >= len(final) {
			v.add("stream", "%s's stream goes on past the end of the final reads with %q", st.Client, m.Text)
			return
		}
		if final[j].ID != m.ID {
			v.add("stream", "%s's stream has %q at position %d where the final reads have %q", st.Client, m.Text, i, final[j].Text)
			return
		}
	}
	if st.Complete && start+len(msgs) != len(final) {
		v.add("stream", "%s's stream stops after %q, %d messages before the end", st.Client, msgs[len(msgs)-1].Text, len(final)-start-len(msgs))
	}
}

// before reports whether a comes before b in the order every reader must
// show: by revision, and within one revision (messages written in one
// transaction) by ID descending.
func before(a, b Message) bool {
	return a.Revision < b.Revision || a.Revision == b.Revision && a.ID > b.ID
}

func firstDifference(a, b []Message) int {
	for i := range min(len(a), len(b)) {
		if a[i].ID != b[i].ID || a[i].Revision != b[i].Revision || a[i].Text != b[i].Text {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func describeAt(ms []Message, i int) string {
	if i >= len(ms) {
		return "(end)"
	}
	return fmt.Sprintf("%q@%d", ms[i].Text, ms[i].Revision)
}

// Violations is the error Check returns: what it found, a bounded number
// of each kind.
type Violations struct {
	// Counts is how many violations of each kind were found: "lost",
	// "duplicate", "phantom", "mismatch", "order", "sender-order" (one
	// client's acknowledgements not respected), "realtime" (writes of
	// different clients not linearizable), "stream", "rejected", "warning"
	// or "history".
	Counts map[string]int
	// List describes them, at most 10 of each kind.
	List []string
}

func (v *Violations) add(kind, format string, args ...any) {
	v.Counts[kind]++
	if v.Counts[kind] <= maxPerKind {
		v.List = append(v.List, kind+": "+fmt.Sprintf(format, args...))
	}
}

// Kinds returns the kinds of violation found, sorted.
func (v *Violations) Kinds() []string {
	kinds := make([]string, 0, len(v.Counts))
	for k := range v.Counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

func (v *Violations) Error() string {
	var b strings.Builder
	for i, k := range v.Kinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", v.Counts[k], k)
	}
	return "history violates its guarantees (" + b.String() + "):\n  " + strings.Join(v.List, "\n  ")
}

func (v *Violations) err() error {
	if len(v.List) == 0 {
		return nil
	}
	return v
}
