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
// chainWarnings looks for: numbers missing, numbers repeated, back links
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

// The streaming checker says what chainWarnings says of the same
// messages, in the same order, without holding them.
func TestSeqCheckerMatchesChainWarnings(t *testing.T) {
	for seed := range uint64(5000) {
		r := rand.New(rand.NewPCG(seed, 1))
		msgs := randomSequences(r)
		for _, complete := range []bool{false, true} {
			c := newSeqChecker()
			for _, m := range msgs {
				c.add(m)
			}
			got, want := c.warnings(complete), chainWarnings(msgs, complete)
			if !slices.Equal(got, want) {
				var desc []string
				for _, m := range msgs {
					desc = append(desc, fmt.Sprintf("%s#%d %s<-%s %q", m.Sender, m.Seq, m.ID[:6], m.prev.String()[:6], m.Rejected))
				}
				t.Fatalf("seed %d, complete %v: messages\n%v\nseqChecker = %q\nchainWarnings = %q", seed, complete, desc, got, want)
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
