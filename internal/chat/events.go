package chat

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// EventKind says what an Event carries.
type EventKind int

// Event kinds.
const (
	// EventMessage carries a new message (verified, or rejected with the
	// reason).
	EventMessage EventKind = iota + 1
	// EventNotice is a change in the room: a join request, an approval, a
	// departure, a key rotation (Notice says which).
	EventNotice
	// EventWarning reports tampering seen in etcd: missing, replayed or
	// deleted messages, rejected records.
	EventWarning
	// EventStatus reports the connection: Err set while the watch is
	// resuming, nil once it is back.
	EventStatus
)

// Event is one thing that happened in a room, delivered live. Events are
// data: each front end words them its own way.
type Event struct {
	Kind     EventKind
	Room     string
	Message  Message // EventMessage
	Notice   Notice  // EventNotice
	Text     string  // EventWarning: what was seen in etcd
	Err      error   // EventStatus
	Revision int64
}

// NoticeKind says what changed in a room.
type NoticeKind string

// Notice kinds.
const (
	NoticeRequest NoticeKind = "request" // User asks to join
	NoticeJoined  NoticeKind = "joined"  // By admitted User
	NoticeLeft    NoticeKind = "left"    // User left
	NoticeRemoved NoticeKind = "removed" // By removed User
	NoticeDenied  NoticeKind = "denied"  // By denied User's request
	NoticeRotated NoticeKind = "rotated" // By started key epoch Epoch
	NoticeClosed  NoticeKind = "closed"  // User, the last member, closed the room
	NoticePolicy  NoticeKind = "policy"  // By made messages disappear after Seconds (0: stay)
	NoticeDevices NoticeKind = "devices" // User's devices changed: Devices of them now, By listed them
	NoticeRekey   NoticeKind = "rekey"   // User's identity changed, signed by their old one
)

// Notice is one change in a room's membership, from its verified chain.
type Notice struct {
	Kind   NoticeKind `json:"kind"`
	User   string     `json:"user,omitempty"`
	By     string     `json:"by,omitempty"`
	Epoch  uint32     `json:"epoch,omitempty"`
	Commit uint64     `json:"commit,omitempty"`
	// Seconds is how long messages live from now on (NoticePolicy).
	Seconds int64 `json:"seconds,omitempty"`
	// Me reports that User is the logged-in user.
	Me bool `json:"me,omitempty"`
	// NewDevice (NoticeRequest) says User, a member, asks to list a
	// device recovered with their recovery code.
	NewDevice bool `json:"new_device,omitempty"`
	// Devices (NoticeDevices) is how many devices User has now.
	Devices int `json:"devices,omitempty"`
}

// Subscribe delivers a room's events from revision fromRev (a Page's
// Revision+1) until ctx ends; then the channel closes. It follows etcd's
// watch, so nothing is polled; after a lost connection it resumes from the
// last revision delivered, and if that revision was compacted away it
// re-reads the messages it missed, so nothing is skipped or repeated.
func (s *Service) Subscribe(ctx context.Context, room names.Room, fromRev int64) (<-chan Event, error) {
	name := string(room)
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return nil, err
	}
	if fromRev <= 0 {
		fromRev = v.revision + 1
	}
	out := make(chan Event, 64)
	sub := &subscription{s: s, name: name, out: out, view: v, last: fromRev - 1, gaps: newGapTracker(), order: newOrderTracker()}
	go sub.run(ctx)
	return out, nil
}

type subscription struct {
	s     *Service
	name  string
	out   chan<- Event
	view  *roomView
	last  int64 // last revision delivered
	gaps  *gapTracker
	order *orderTracker
	down  bool
}

func (sub *subscription) emit(ctx context.Context, ev Event) bool {
	ev.Room = sub.name
	select {
	case sub.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (sub *subscription) run(ctx context.Context) {
	defer close(sub.out)
	for ctx.Err() == nil {
		ch, err := sub.s.st.WatchRoom(ctx, names.Room(sub.name), sub.last+1)
		if err != nil {
			sub.emit(ctx, Event{Kind: EventStatus, Err: err})
			return
		}
		compacted := false
		for ev := range ch {
			if !sub.handle(ctx, ev) {
				compacted = ev.Compacted
				break
			}
		}
		// Drain so the watch goroutine can exit.
		for range ch {
		}
		if !compacted || ctx.Err() != nil {
			return
		}
		if err := sub.catchUp(ctx); err != nil {
			if !sub.emit(ctx, Event{Kind: EventStatus, Err: err}) {
				return
			}
			if sleepCtx(ctx, backoff(4)) != nil {
				return
			}
		}
	}
}

// handle processes one watch batch; false stops the watch.
func (sub *subscription) handle(ctx context.Context, ev store.RoomEvent) bool {
	if ev.Compacted {
		return false
	}
	if ev.Err != nil {
		sub.down = true
		return sub.emit(ctx, Event{Kind: EventStatus, Err: ev.Err, Revision: ev.Revision})
	}
	if sub.down {
		sub.down = false
		if !sub.emit(ctx, Event{Kind: EventStatus, Revision: ev.Revision}) {
			return false
		}
	}
	if ev.StateChanged || (len(ev.Messages) > 0 && sub.view.revision < ev.Messages[0].CreateRevision && sub.needsView(ev)) {
		if !sub.refresh(ctx) {
			return false
		}
	}
	if len(ev.Messages) > 0 {
		if !sub.deliver(ctx, ev.Messages) {
			return false
		}
	}
	for _, w := range sub.order.warnings() {
		if !sub.emit(ctx, Event{Kind: EventWarning, Text: w, Revision: ev.Revision}) {
			return false
		}
	}
	sub.order.warns = nil
	for _, id := range ev.Deleted {
		if sub.expired(id) {
			continue // a disappearing message, deleted by its lease on time
		}
		if !sub.emit(ctx, Event{Kind: EventWarning, Text: fmt.Sprintf("message %s was deleted from etcd", id), Revision: ev.Revision}) {
			return false
		}
	}
	for _, w := range sub.gaps.settle() {
		if !sub.emit(ctx, Event{Kind: EventWarning, Text: w, Revision: ev.Revision}) {
			return false
		}
	}
	sub.last = max(sub.last, ev.Revision)
	return true
}

// expired reports whether message id, deleted from etcd, was due to
// disappear by now: its id's time plus the room's setting, allowing for
// the minute by which leases are grouped.
func (sub *subscription) expired(id string) bool {
	d := time.Duration(sub.view.Disappear) * time.Second
	mid, err := crypto.ParseMessageID(id)
	if d == 0 || err != nil {
		return false
	}
	return !mid.Time().Add(d).After(time.Now().Add(time.Minute))
}

// needsView reports whether a batch has messages the cached view cannot
// judge (an epoch or sender it does not know).
func (sub *subscription) needsView(ev store.RoomEvent) bool {
	for _, r := range ev.Messages {
		env, err := crypto.ParseEnvelope(r.Value)
		if err != nil {
			continue
		}
		if uint64(env.Commit) > sub.view.N || sub.view.spanAt(env.Sender, uint64(env.Commit)) == nil {
			return true
		}
	}
	return false
}

func (sub *subscription) refresh(ctx context.Context) bool {
	nv, err := sub.s.loadView(ctx, sub.name)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return false
		}
		return sub.emit(ctx, Event{Kind: EventStatus, Err: err})
	}
	old := sub.view
	sub.view = nv
	for _, n := range diffNotices(old, nv, sub.s.me.Name()) {
		if !sub.emit(ctx, n) {
			return false
		}
	}
	// A member left: rotate now rather than at the next send, so the window
	// in which the departed member could still read is as short as can be.
	// (Every remaining member's client tries; one commit wins.)
	if nv.Retired && nv.fault == nil && nv.isMember(sub.s.me.Name()) {
		if _, err := sub.s.memberView(ctx, sub.name); err != nil && !errors.Is(err, context.Canceled) {
			sub.s.log.Warn("key rotation failed", "room", sub.name, "err", err)
		}
	}
	return true
}

func (sub *subscription) deliver(ctx context.Context, raws []store.RawMessage) bool {
	fresh := raws[:0:0]
	for _, r := range raws {
		if r.CreateRevision > sub.last {
			fresh = append(fresh, r)
		}
	}
	msgs, err := sub.s.verifyAll(ctx, sub.view, fresh)
	if err != nil {
		return sub.emit(ctx, Event{Kind: EventStatus, Err: err})
	}
	sub.s.saw(sub.name, msgs)
	sub.s.noteEvidence(sub.name, msgs)
	for i := range msgs {
		if msgs[i].Rejected == "" {
			sub.s.checkLive(ctx, &msgs[i])
		}
	}
	for _, m := range msgs {
		sub.gaps.add(m)
		sub.order.add(m)
		if !sub.emit(ctx, Event{Kind: EventMessage, Message: m, Revision: m.Revision}) {
			return false
		}
		sub.last = max(sub.last, m.Revision)
	}
	return true
}

// catchUp re-reads the messages newer than the last delivered revision
// after the watch's start was compacted, then lets run watch again.
func (sub *subscription) catchUp(ctx context.Context) error {
	var raws []store.RawMessage
	cursor, rev := "", int64(0)
	for {
		page, err := sub.s.st.Messages(ctx, names.Room(sub.name), cursor, pageSize, rev)
		if err != nil {
			return err
		}
		rev = page.Revision
		older := false
		for _, m := range page.Messages {
			if m.CreateRevision > sub.last {
				raws = append(raws, m)
			} else {
				older = true
			}
		}
		// Ids are newest first by the senders' clocks; a page that holds
		// only delivered messages means we have gone far enough.
		if !page.More || (older && len(page.Messages) > 0 && allOlder(page.Messages, sub.last)) {
			break
		}
		cursor = page.Next
	}
	if !sub.refresh(ctx) {
		return ctx.Err()
	}
	if !sub.deliver(ctx, raws) {
		return ctx.Err()
	}
	sub.last = max(sub.last, rev)
	return nil
}

func allOlder(ms []store.RawMessage, rev int64) bool {
	for _, m := range ms {
		if m.CreateRevision > rev {
			return false
		}
	}
	return true
}

// diffNotices describes what changed between two views of a room, in
// commit order.
func diffNotices(old, nv *roomView, me string) []Event {
	var out []Event
	add := func(n Notice) {
		n.Me = n.User != "" && n.User == me
		out = append(out, Event{Kind: EventNotice, Notice: n, Revision: nv.revision})
	}
	for _, r := range nv.requests {
		if old.hasRequest(r.User) == nil {
			add(Notice{Kind: NoticeRequest, User: r.User, NewDevice: r.NewDevice})
		}
	}
	var changes []Notice
	for u, m := range nv.Members {
		for _, sp := range m.Spans {
			if sp.From > old.N {
				changes = append(changes, Notice{Kind: NoticeJoined, User: u, By: sp.By, Commit: sp.From})
			}
			if sp.To > old.N {
				switch {
				case sp.How == "removed":
					changes = append(changes, Notice{Kind: NoticeRemoved, User: u, By: sp.EndBy, Commit: sp.To})
				case nv.Closed && sp.To == nv.N:
					changes = append(changes, Notice{Kind: NoticeClosed, User: u, Commit: sp.To})
				default:
					changes = append(changes, Notice{Kind: NoticeLeft, User: u, Commit: sp.To})
				}
			}
		}
	}
	for u, m := range nv.Members {
		om := old.Members[u]
		if om == nil || !nv.isMember(u) || !old.isMember(u) {
			continue
		}
		if len(m.OldKeys) > len(om.OldKeys) {
			changes = append(changes, Notice{Kind: NoticeRekey, User: u, Commit: m.OldKeys[len(m.OldKeys)-1].Until})
		} else if !slices.Equal(m.Devices, om.Devices) {
			changes = append(changes, Notice{Kind: NoticeDevices, User: u, By: nv.Last.Signer, Devices: len(m.Devices), Commit: m.WrapN})
		}
	}
	for u, by := range nv.DeniedBy {
		if old.DeniedBy[u] != by || !bytes.Equal(old.Denied[u], nv.Denied[u]) {
			changes = append(changes, Notice{Kind: NoticeDenied, User: u, By: by, Commit: nv.N})
		}
	}
	if nv.DisappearSince > old.N {
		changes = append(changes, Notice{Kind: NoticePolicy, By: nv.Last.Signer, Seconds: nv.Disappear, Commit: nv.DisappearSince})
	}
	for i, e := range nv.Epochs {
		if e.Commit > old.N && e.Commit > 1 {
			changes = append(changes, Notice{Kind: NoticeRotated, By: e.Author, Epoch: uint32(i + 1), Commit: e.Commit})
		}
	}
	slices.SortStableFunc(changes, func(a, b Notice) int {
		if a.Commit != b.Commit {
			return cmp.Compare(a.Commit, b.Commit)
		}
		return cmp.Compare(a.User, b.User)
	})
	for _, n := range changes {
		add(n)
	}
	known := make(map[string]bool, len(old.rejected))
	for _, r := range old.rejected {
		known[r.What+"@"+fmt.Sprint(r.Revision)] = true
	}
	for _, r := range nv.rejected {
		if !known[r.What+"@"+fmt.Sprint(r.Revision)] {
			out = append(out, Event{Kind: EventWarning, Text: fmt.Sprintf("rejected %s: %s", r.What, r.Reason), Revision: r.Revision})
		}
	}
	if nv.fault != nil && (old.fault == nil || old.fault.Error() != nv.fault.Error()) {
		out = append(out, Event{Kind: EventWarning, Text: nv.fault.Error(), Revision: nv.revision})
	}
	return out
}

// gapTracker follows each sender's sequence live. A gap is reported only if
// it is still open one batch later, since one sender's concurrent sends may
// commit out of order.
type gapTracker struct {
	jumps   []string // gaps too long to count, reported as they are seen
	max     map[string]uint64
	missing map[string]map[uint64]int // sender -> seq -> batches seen open
	seen    map[string]map[uint64]bool
}

func newGapTracker() *gapTracker {
	return &gapTracker{max: map[string]uint64{}, missing: map[string]map[uint64]int{}, seen: map[string]map[uint64]bool{}}
}

func (g *gapTracker) add(m Message) {
	if m.Rejected != "" || m.Seq == 0 {
		return
	}
	who := m.chain()
	if g.seen[who] == nil {
		g.seen[who] = map[uint64]bool{}
		g.missing[who] = map[uint64]int{}
	}
	g.seen[who][m.Seq] = true
	delete(g.missing[who], m.Seq)
	last, known := g.max[who]
	switch {
	case known && m.Seq > last+maxLiveGap:
		// Far ahead: said at once, not counted number by number (a
		// member who numbers a message 2^40 must not stop the feed).
		g.jumps = append(g.jumps, fmt.Sprintf("message #%d from %s skips %d numbers after #%d (messages withheld, or a forged number)", m.Seq, who, m.Seq-last-1, last))
	case known:
		for n := last + 1; n < m.Seq; n++ {
			if !g.seen[who][n] {
				g.missing[who][n] = 0
			}
		}
	}
	g.max[who] = max(last, m.Seq)
}

// maxLiveGap is the largest gap in a sender's numbers the live feed counts
// message by message.
const maxLiveGap = 10000

func (g *gapTracker) settle() []string {
	out := g.jumps
	g.jumps = nil
	for sender, miss := range g.missing {
		n := 0
		for seq, age := range miss {
			if age >= 1 {
				n++
				delete(miss, seq)
			} else {
				miss[seq] = age + 1
			}
		}
		switch {
		case n == 1:
			out = append(out, fmt.Sprintf("1 message from %s is missing", sender))
		case n > 1:
			out = append(out, fmt.Sprintf("%d messages from %s are missing", n, sender))
		}
	}
	return out
}
