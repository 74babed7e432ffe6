package chat

// This file holds the exactly-once promise: one send state machine, used by
// Send and by the outbox alike. A message's id is chosen before its first
// write and every write is create-only, so a write retried after a timeout
// never appears twice; its place in my chain is taken once, under a lock
// that spans my processes, so no sequence number is used twice.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// ChainHead is my sending chain in one room: the sequence number and id of
// my newest message there.
type ChainHead struct {
	Seq  uint64
	Last crypto.MessageID
}

// ChainHeads keeps my chain head per room on the user's own disk, so a
// deleted newest message of mine is noticed (its number is never reused)
// and the first send of a process does not scan the room's history.
// Advance must run fn under a lock held across every process of this home,
// and store what fn returns before releasing it. Implementations must be
// safe for concurrent use.
type ChainHeads interface {
	// Advance calls fn with room's head (ok false if none is recorded)
	// and records the head fn returns, unless fn fails.
	Advance(room string, fn func(cur ChainHead, ok bool) (ChainHead, error)) error
	// Head returns room's recorded head.
	Head(room string) (ChainHead, bool, error)
}

// NewMessageID returns a fresh message id, for SendID: a front end that
// names its message before sending it recognises it when it comes back.
func NewMessageID() string { return crypto.NewMessageID(time.Now()).String() }

// Send encrypts, signs and stores one message in room, exactly once. It
// retries while the cluster is unavailable, until ctx ends.
func (s *Service) Send(ctx context.Context, room names.Room, text string) (Message, error) {
	return s.SendID(ctx, room, "", text)
}

// SendID is Send with an id from NewMessageID ("" picks one).
func (s *Service) SendID(ctx context.Context, room names.Room, id, text string) (Message, error) {
	name := string(room)
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	return s.sendPayload(ctx, name, id, payload{kind: KindText, text: text})
}

func (s *Service) sendPayload(ctx context.Context, name, id string, p payload) (Message, error) {
	o, err := s.newOutgoing(name, id, string(p.encode()))
	if err != nil {
		return Message{}, err
	}
	return s.transmit(ctx, o)
}

func (s *Service) newOutgoing(room, id, body string) (*outgoing, error) {
	now := s.now()
	mid := crypto.NewMessageID(now)
	if id != "" {
		var err error
		if mid, err = crypto.ParseMessageID(id); err != nil {
			return nil, fmt.Errorf("send to %q: %w", room, err)
		}
		now = mid.Time()
	}
	return &outgoing{room: room, id: mid, body: body, at: now}, nil
}

// outgoing is one message on its way.
type outgoing struct {
	room string
	id   crypto.MessageID
	body string // the encoded payload (see payload.go)
	at   time.Time
	// h.Seq is set once the message has its place in my chain.
	h     crypto.Header
	epoch uint32 // key epoch of the commit it was last sealed under
	// tried holds every envelope written for this id, newest last: a
	// retry that finds one of them in place has succeeded.
	tried [][]byte
	// persist, if set, is called with each new envelope before its first
	// write (the outbox stores it, so a retry after a crash sends the same
	// bytes).
	persist func(*outgoing) error
}

// unsentError reports a send that could not be confirmed; o carries its
// sealed state so that it can be queued under the same id and bytes.
type unsentError struct {
	err error
	o   *outgoing
}

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

// transmit is the send state machine: place the message in my chain once,
// seal it under the newest commit I verified, write it create-only, and on
// a stale commit seal it again (same id, same place in my chain); on an
// existing id, succeed only if the bytes are one of mine.
func (s *Service) transmit(ctx context.Context, o *outgoing) (Message, error) {
	name := o.room
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	if v.fault != nil || v.Retired || !v.isMember(s.me.Name()) || s.forkedErr(name) != nil {
		if v, err = s.memberView(ctx, name); err != nil {
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		}
	}
	if o.h.Seq == 0 {
		// What sealing needs from the cluster comes first: a failure
		// then costs no number in my chain.
		if _, err := s.epochKey(ctx, v, v.Epoch); err != nil {
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		}
		if err := s.place(ctx, v, o); err != nil {
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		}
	}
	// From here on the message has its place in my chain: a failure for
	// now hands it back (unsentError) to be queued with that place, never
	// dropped, so readers see no gap.
	// A message already sealed under the newest commit goes out in the
	// same bytes; otherwise it is sealed (again) under that commit.
	var env []byte
	if n := len(o.tried); n > 0 && uint64(o.h.Commit) == v.N {
		env, o.epoch = o.tried[n-1], v.Epoch
	} else if env, err = s.sealOutgoing(ctx, v, o); err != nil {
		return Message{}, &unsentError{err: fmt.Errorf("send to %q: %w", name, err), o: o}
	}
	for attempt := 0; ; attempt++ {
		rev, err := s.st.WriteMessage(ctx, names.Room(name), o.id.String(), env, v.N+1, time.Duration(v.Disappear)*time.Second)
		if err == nil {
			s.sawOwn(name, rev, o.id)
			return o.message(rev), nil
		}
		switch {
		case errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil:
			// Possibly committed: the same bytes again are safe.
			if err := sleepCtx(ctx, backoff(min(attempt, 6))); err != nil {
				return Message{}, &unsentError{
					err: fmt.Errorf("send to %q: %w (the message may still arrive: its id is %s)", name, store.ErrUnavailable, o.id),
					o:   o,
				}
			}
		case errors.Is(err, store.ErrStale) && attempt < 20:
			// The membership changed: seal again under the new commit,
			// keeping id and place in my chain.
			if v, err = s.memberView(ctx, name); err != nil {
				return Message{}, &unsentError{err: fmt.Errorf("send to %q: %w", name, err), o: o}
			}
			if env, err = s.sealOutgoing(ctx, v, o); err != nil {
				return Message{}, &unsentError{err: fmt.Errorf("send to %q: %w", name, err), o: o}
			}
		case errors.Is(err, store.ErrExists):
			// An earlier attempt under an older commit may have gone through.
			raw, gerr := s.st.Message(ctx, names.Room(name), o.id.String())
			if gerr == nil {
				for _, e := range o.tried {
					if string(e) == string(raw.Value) {
						m := o.message(raw.CreateRevision)
						if pe, perr := crypto.ParseEnvelope(raw.Value); perr == nil {
							m.Commit = uint64(pe.Commit)
						}
						return m, nil
					}
				}
			}
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		default:
			return Message{}, err
		}
	}
}

func (o *outgoing) message(rev int64) Message {
	m := Message{
		Room: o.room, ID: o.id.String(), Sender: o.h.Sender, Time: time.UnixMilli(o.h.Time).UTC(),
		Revision: rev, Commit: uint64(o.h.Commit), Epoch: o.epoch, Seq: o.h.Seq, Mine: true, prev: o.h.Prev,
	}
	if p, err := decodePayload([]byte(o.body)); err == nil {
		m.apply(p)
	}
	return m
}

// pendingMessage is how a queued message shows before it is sent.
func pendingMessage(room, id, sender, body string, at time.Time) Message {
	m := Message{Room: room, ID: id, Sender: sender, Time: at.UTC(), Mine: true, Pending: true}
	if p, err := decodePayload([]byte(body)); err == nil {
		m.apply(p)
	} else {
		m.Kind, m.Text = KindText, body // queued by an earlier version
	}
	return m
}

// place gives o the next place in my chain in its room, under the chain
// lock of my home.
func (s *Service) place(ctx context.Context, v *roomView, o *outgoing) error {
	return s.heads.Advance(o.room, func(cur ChainHead, ok bool) (ChainHead, error) {
		if !ok {
			var err error
			if cur, err = s.recoverHead(ctx, v); err != nil {
				return cur, err
			}
		}
		o.h = crypto.Header{Sender: s.me.Name(), Seq: cur.Seq + 1, Prev: cur.Last, Time: o.at.UnixMilli()}
		return ChainHead{Seq: o.h.Seq, Last: o.id}, nil
	})
}

// sealOutgoing seals o under v's newest commit and records the envelope.
func (s *Service) sealOutgoing(ctx context.Context, v *roomView, o *outgoing) ([]byte, error) {
	k, err := s.epochKey(ctx, v, v.Epoch)
	if err != nil {
		return nil, err
	}
	h := o.h
	h.Commit = uint32(v.N)
	copy(h.CommitDigest[:], v.prefix(v.N))
	h.Seen = s.seenLast(v.Name)
	if h.Seen == o.id {
		h.Seen = [16]byte{}
	}
	env, err := crypto.SealMessage(s.me, k, v.Name, o.id, h, []byte(o.body))
	if err != nil {
		return nil, err
	}
	o.h, o.epoch = h, v.Epoch
	o.tried = append(o.tried, env)
	if o.persist != nil {
		if err := o.persist(o); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// recoverHead finds my newest message in a room whose head this home does
// not know (a new home, or one that lost its file). It reads the history
// newest first, page by page (each page its own bounded round trip), and
// stops at the first of mine or at the start of my membership.
func (s *Service) recoverHead(ctx context.Context, v *roomView) (ChainHead, error) {
	me := s.me.Name()
	var head ChainHead
	var since time.Time
	if m := v.Members[me]; m != nil && len(m.Spans) > 0 {
		// Clocks may be an hour apart.
		since = m.Spans[0].Since.Add(-time.Hour)
	}
	cursor, read := "", 0
	for {
		page, err := s.st.Messages(ctx, names.Room(v.Name), cursor, 2000, 0)
		if err != nil {
			return head, err
		}
		for _, raw := range page.Messages {
			env, err := crypto.ParseEnvelope(raw.Value)
			if err != nil || env.Sender != me {
				continue
			}
			id, err := crypto.ParseMessageID(raw.ID)
			if err != nil || env.Verify(v.Name, id, s.me.Public()) != nil {
				continue
			}
			if env.Seq > head.Seq {
				head = ChainHead{Seq: env.Seq, Last: id}
			}
		}
		read += len(page.Messages)
		// Pages are newest first; concurrent sends may commit slightly
		// out of order, so finish the page where mine first appears.
		if head.Seq > 0 || !page.More {
			break
		}
		if last := page.Messages[len(page.Messages)-1]; !since.IsZero() {
			if id, err := crypto.ParseMessageID(last.ID); err == nil && id.Time().Before(since) {
				break
			}
		}
		if read%20000 == 0 {
			s.log.Info("looking for my last message", "room", v.Name, "read", read)
		}
		cursor = page.Next
	}
	return head, nil
}

// seenState is what this service saw last in a room: the newest message
// (by revision) and each sender's highest sequence number.
type seenState struct {
	rev   int64
	last  crypto.MessageID
	heads map[chainID]uint64
}

// chainID names one device's chain of messages in a room.
type chainID struct{ user, dev string }

func (s *Service) seenFor(room string) *seenState {
	ss := s.seen[room]
	if ss == nil {
		ss = &seenState{heads: make(map[chainID]uint64)}
		s.seen[room] = ss
	}
	return ss
}

// saw records verified messages read or delivered.
func (s *Service) saw(room string, msgs []Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.seenFor(room)
	for _, m := range msgs {
		if m.Rejected != "" {
			continue
		}
		if m.Revision > ss.rev {
			if id, err := crypto.ParseMessageID(m.ID); err == nil {
				ss.rev, ss.last = m.Revision, id
			}
		}
		k := chainID{m.Sender, m.Device}
		ss.heads[k] = max(ss.heads[k], m.Seq)
	}
}

func (s *Service) sawOwn(room string, rev int64, id crypto.MessageID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.seenFor(room)
	if rev > ss.rev {
		ss.rev, ss.last = rev, id
	}
}

func (s *Service) seenLast(room string) [16]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.seen[room]; ss != nil {
		return ss.last
	}
	return [16]byte{}
}

// knownHead returns u's last sequence number in room as this service saw
// it, for a removal to record (none if it saw nothing of theirs).
func (s *Service) knownHead(room, u string) []store.Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Head
	if ss := s.seen[room]; ss != nil {
		// The identity's own chain, else the device's seen last.
		if n, ok := ss.heads[chainID{u, ""}]; ok {
			return []store.Head{{User: u, Seq: n}}
		}
		for k, n := range ss.heads {
			if k.user == u {
				out = []store.Head{{User: u, Seq: n, Device: k.dev}}
			}
		}
	}
	return out
}

func checkText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return errors.New("empty message")
	case len(text) > MaxMessageBytes:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrMessageTooLong, len(text), MaxMessageBytes)
	case !utf8.ValidString(text):
		return errors.New("message is not valid UTF-8")
	}
	return nil
}

// memHeads keeps chain heads in memory: one process, no lock beyond its own.
type memHeads struct {
	mu sync.Mutex
	m  map[string]ChainHead
}

func newMemHeads() *memHeads { return &memHeads{m: make(map[string]ChainHead)} }

func (h *memHeads) Advance(room string, fn func(ChainHead, bool) (ChainHead, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.m[room]
	next, err := fn(cur, ok)
	if err != nil {
		return err
	}
	h.m[room] = next
	return nil
}

func (h *memHeads) Head(room string) (ChainHead, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.m[room]
	return cur, ok, nil
}

// backoff is the one retry policy of this package: how long to wait
// before attempt+1 of anything that failed for now (a conflict, an
// unavailable cluster). It doubles from 20 ms up to a second, with "equal
// jitter" (a random half of it added to the other half), so that clients
// that collided do not collide again in step.
func backoff(attempt int) time.Duration {
	d := min(20*time.Millisecond<<min(attempt, 16), time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
