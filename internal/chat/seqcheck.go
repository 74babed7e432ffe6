package chat

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
)

// seqChecker checks each sender's sequence numbers and back links one
// message at a time, in the order they are shown, so a history too long to
// hold is checked as it passes (StreamForward) and a whole one too
// (chainWarnings). Per sender it keeps the ranges of numbers seen, the
// numbers seen more than once, the back links found broken, and only the
// messages whose neighbours in the sequence have not come yet: an honest
// sender's messages come in sequence, so that is a handful whatever the
// length of the history, and nothing walks the numbers between two
// messages, however far apart a sender put them.
type seqChecker struct {
	order []string // senders in the order of their first message
	per   map[string]*senderSeqs
	// disappear, if set, is how long the room's messages live: a missing
	// message is then reported only if it was certainly still due to live
	// at now (its sender's message before it is younger than disappear,
	// and it came later), never one that may have expired on time.
	disappear time.Duration
	now       time.Time
}

type senderSeqs struct {
	ranges   []seqRange // numbers seen: sorted, disjoint, not adjacent
	min, max uint64
	distinct uint64
	dups     map[uint64]int     // number -> times seen, if more than once
	open     map[uint64]seqLink // seen once, and a neighbour not seen yet
	broken   map[uint64]bool    // n whose back link is not the id of n-1
}

type seqRange struct {
	lo, hi uint64
	hiTime time.Time // when the message numbered hi was sent
}

// seqLink is what the back-link check needs of a message.
type seqLink struct{ id, prev crypto.MessageID }

// chain names the chain of numbers a message belongs to: each device of a
// sender numbers its own messages.
func (m *Message) chain() string {
	if m.Device == "" {
		return m.Sender
	}
	return m.Sender + " (device " + m.Device + ")"
}

func newSeqChecker() *seqChecker { return &seqChecker{per: make(map[string]*senderSeqs)} }

func (c *seqChecker) add(m Message) {
	if m.Rejected != "" || m.Seq == 0 {
		return
	}
	who := m.chain()
	sq := c.per[who]
	if sq == nil {
		sq = &senderSeqs{min: m.Seq, max: m.Seq, dups: map[uint64]int{}, open: map[uint64]seqLink{}, broken: map[uint64]bool{}}
		c.per[who] = sq
		c.order = append(c.order, who)
	}
	n := m.Seq
	if sq.has(n) {
		sq.dups[n] = max(sq.dups[n], 1) + 1
		delete(sq.open, n) // a number seen twice links to nothing
		return
	}
	sq.insert(n, m.Time)
	sq.distinct++
	sq.min, sq.max = min(sq.min, n), max(sq.max, n)
	id, _ := crypto.ParseMessageID(m.ID) // an accepted message's id parses
	cur := seqLink{id: id, prev: m.prev}
	if p, ok := sq.open[n-1]; ok && n > 1 {
		if cur.prev != p.id {
			sq.broken[n] = true
		}
		if n-1 == 1 || sq.has(n-2) {
			delete(sq.open, n-1) // both its links are checked
		}
	}
	if nx, ok := sq.open[n+1]; ok {
		if nx.prev != cur.id {
			sq.broken[n+1] = true
		}
		if sq.has(n + 2) {
			delete(sq.open, n+1)
		}
	}
	if !((n == 1 || sq.has(n-1)) && sq.has(n+1)) {
		sq.open[n] = cur
	}
}

// warnings returns the findings for the messages added, per sender in the
// order of their first message, by number, each sender's missing count last;
// complete says they are the room's whole history.
func (c *seqChecker) warnings(complete bool) []string {
	var warns []string
	for _, sender := range c.order {
		sq := c.per[sender]
		lo := sq.min
		if complete {
			lo = 1
		}
		type finding struct {
			n    uint64
			text string
		}
		var fs []finding
		for n, k := range sq.dups {
			fs = append(fs, finding{n, fmt.Sprintf("message #%d from %s appears %d times (replayed or forked)", n, sender, k)})
		}
		for n := range sq.broken {
			if sq.dups[n] == 0 && sq.dups[n-1] == 0 {
				fs = append(fs, finding{n, fmt.Sprintf("message #%d from %s does not follow their message #%d", n, sender, n-1)})
			}
		}
		slices.SortFunc(fs, func(a, b finding) int { return cmp.Compare(a.n, b.n) })
		for _, f := range fs {
			warns = append(warns, f.text)
		}
		missing := sq.max - lo + 1 - sq.distinct
		if c.disappear > 0 {
			missing = 0
			for i := 1; i < len(sq.ranges); i++ {
				if sq.ranges[i-1].hiTime.Add(c.disappear).After(c.now) {
					missing += sq.ranges[i].lo - sq.ranges[i-1].hi - 1
				}
			}
		}
		switch {
		case missing == 1:
			warns = append(warns, fmt.Sprintf("1 message from %s is missing", sender))
		case missing > 1:
			warns = append(warns, fmt.Sprintf("%d messages from %s are missing", missing, sender))
		}
	}
	return warns
}

// find returns the index of the first range whose hi is at least n.
func (sq *senderSeqs) find(n uint64) int {
	i, _ := slices.BinarySearchFunc(sq.ranges, n, func(r seqRange, n uint64) int { return cmp.Compare(r.hi, n) })
	return i
}

func (sq *senderSeqs) has(n uint64) bool {
	i := sq.find(n)
	return i < len(sq.ranges) && sq.ranges[i].lo <= n
}

// insert adds n, sent at t, which is not in the ranges yet.
func (sq *senderSeqs) insert(n uint64, t time.Time) {
	if k := len(sq.ranges); k > 0 && sq.ranges[k-1].hi+1 == n {
		sq.ranges[k-1].hi, sq.ranges[k-1].hiTime = n, t // the usual case: the next number
		return
	}
	i := sq.find(n)
	joinsLeft := i > 0 && sq.ranges[i-1].hi+1 == n
	joinsRight := i < len(sq.ranges) && n+1 == sq.ranges[i].lo
	switch {
	case joinsLeft && joinsRight:
		sq.ranges[i-1].hi, sq.ranges[i-1].hiTime = sq.ranges[i].hi, sq.ranges[i].hiTime
		sq.ranges = slices.Delete(sq.ranges, i, i+1)
	case joinsLeft:
		sq.ranges[i-1].hi, sq.ranges[i-1].hiTime = n, t
	case joinsRight:
		sq.ranges[i].lo = n
	default:
		sq.ranges = slices.Insert(sq.ranges, i, seqRange{n, n, t})
	}
}
