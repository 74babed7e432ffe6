package chat

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
)

// randomSequences makes the messages of a few senders with the faults
// chainWarningsByNumber looks for: numbers missing, numbers repeated, back links
// to the wrong message, and messages out of sequence.
func randomSequences(r *rand.Rand) []Message {
	var msgs []Message
	for _, sender := range []string{"alice", "bob", "carol"}[:1+r.IntN(3)] {
		var prev crypto.MessageID
		for n := uint64(1 + r.IntN(3)); n <= uint64(2+r.IntN(12)); n++ {
			if r.IntN(6) == 0 {
				continue // missing
			}
			for range 1 + r.IntN(8)/7 { // sometimes twice
				id := crypto.NewMessageID(time.UnixMicro(r.Int64N(1 << 50)))
				m := Message{ID: id.String(), Sender: sender, Seq: n, prev: prev}
				if r.IntN(8) == 0 {
					m.prev = crypto.NewMessageID(time.Now()) // a wrong link
				}
				switch r.IntN(20) {
				case 0:
					m.Rejected = "forged"
				case 1:
					m.Seq = 0
				}
				msgs = append(msgs, m)
				prev = id
			}
		}
	}
	// Out of sequence: swap some neighbours, and sometimes shuffle.
	for i := range msgs {
		if i > 0 && r.IntN(4) == 0 {
			msgs[i-1], msgs[i] = msgs[i], msgs[i-1]
		}
	}
	if r.IntN(5) == 0 {
		r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	}
	return msgs
}

// The streaming checker says what the reference says of the same messages,
// in the same order, without holding them.
func TestSeqCheckerMatchesChainWarnings(t *testing.T) {
	for seed := range uint64(5000) {
		r := rand.New(rand.NewPCG(seed, 1))
		msgs := randomSequences(r)
		for _, complete := range []bool{false, true} {
			c := newSeqChecker()
			for _, m := range msgs {
				c.add(m)
			}
			got, want := c.warnings(complete), chainWarningsByNumber(msgs, complete)
			if !slices.Equal(got, want) {
				var desc []string
				for _, m := range msgs {
					desc = append(desc, fmt.Sprintf("%s#%d %s<-%s %q", m.Sender, m.Seq, m.ID[:6], m.prev.String()[:6], m.Rejected))
				}
				t.Fatalf("seed %d, complete %v: messages\n%v\nseqChecker = %q\nreference = %q", seed, complete, desc, got, want)
			}
		}
	}
}

// What the checker keeps of a long clean history is a handful of
// entries, not one per message.
func TestSeqCheckerKeepsLittle(t *testing.T) {
	c := newSeqChecker()
	var prev crypto.MessageID
	for n := uint64(1); n <= 100000; n++ {
		id := crypto.NewMessageID(time.UnixMicro(int64(n)))
		c.add(Message{ID: id.String(), Sender: "alice", Seq: n, prev: prev})
		prev = id
	}
	sq := c.per["alice"]
	if len(sq.ranges) != 1 || len(sq.open) > 1 || len(sq.dups) != 0 || len(sq.broken) != 0 {
		t.Fatalf("after 100000 messages in sequence: %d ranges, %d open, %d dups, %d broken", len(sq.ranges), len(sq.open), len(sq.dups), len(sq.broken))
	}
	if w := c.warnings(true); len(w) != 0 {
		t.Fatalf("warnings = %q, want none", w)
	}
}

// chainWarningsByNumber is chainWarnings as it was first written, which
// walks every number from the first to the last of each sender: the
// reference the streaming checker is held to.
func chainWarningsByNumber(msgs []Message, complete bool) []string {
	type seqs struct {
		byID map[uint64][]int
		min  uint64
		max  uint64
	}
	per := make(map[string]*seqs)
	var order []string
	for i, m := range msgs {
		if m.Rejected != "" || m.Seq == 0 {
			continue
		}
		sq := per[m.Sender]
		if sq == nil {
			sq = &seqs{byID: make(map[uint64][]int), min: m.Seq}
			per[m.Sender] = sq
			order = append(order, m.Sender)
		}
		sq.byID[m.Seq] = append(sq.byID[m.Seq], i)
		sq.min, sq.max = min(sq.min, m.Seq), max(sq.max, m.Seq)
	}
	var warns []string
	for _, sender := range order {
		sq := per[sender]
		lo := sq.min
		if complete {
			lo = 1
		}
		missing := 0
		for n := lo; n <= sq.max; n++ {
			idx := sq.byID[n]
			switch {
			case len(idx) == 0:
				missing++
			case len(idx) > 1:
				warns = append(warns, fmt.Sprintf("message #%d from %s appears %d times (replayed or forked)", n, sender, len(idx)))
			case n > 1:
				if prev := sq.byID[n-1]; len(prev) == 1 {
					if msgs[idx[0]].prev.String() != msgs[prev[0]].ID {
						warns = append(warns, fmt.Sprintf("message #%d from %s does not follow their message #%d", n, sender, n-1))
					}
				}
			}
		}
		if missing == 1 {
			warns = append(warns, fmt.Sprintf("1 message from %s is missing", sender))
		} else if missing > 1 {
			warns = append(warns, fmt.Sprintf("%d messages from %s are missing", missing, sender))
		}
	}
	return warns
}
