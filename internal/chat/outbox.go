package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Outbox keeps messages that could not reach the cluster, on the user's own
// disk, until they are delivered. Entries hold no plaintext: the text is
// sealed to the user's own key, and once a message is placed in the
// sender's chain the stored envelope is the final encrypted one.
// Implementations must make Put durable before returning.
type Outbox interface {
	// Put stores or replaces the entry with id.
	Put(id string, data []byte) error
	// Delete removes an entry; deleting a missing entry is not an error.
	Delete(id string) error
	// List returns every entry, oldest first.
	List() (map[string][]byte, error)
	// TryLock takes the outbox for delivery; ok is false if another
	// process holds it.
	TryLock() (unlock func(), ok bool, err error)
}

// outboxEntry is one queued message.
type outboxEntry struct {
	Room    string    `json:"room"`
	ID      string    `json:"id"`
	Queued  time.Time `json:"queued"`
	Sealed  []byte    `json:"sealed"`  // text sealed to myself
	SelfKey []byte    `json:"selfkey"` // the one-off key, wrapped to myself
	// Once placed in my chain: the envelope as sent and its header, and
	// every envelope tried for this id (a retry finds one of them).
	Envelope []byte   `json:"envelope,omitempty"`
	Tried    [][]byte `json:"tried,omitempty"`
	Seq      uint64   `json:"seq,omitempty"`
	Prev     string   `json:"prev,omitempty"`
	Failed   string   `json:"failed,omitempty"` // permanent failure reason
}

const outboxRoomPrefix = "parley/v1/outbox/"

// ErrQueued is not returned as an error; Message.Pending reports queueing.

// SendOrQueue sends like Send, but if the cluster cannot be reached within
// wait it puts the message in the outbox and returns it with Pending set;
// DeliverOutbox (or RunOutbox) sends it later, exactly once. While messages
// wait in the outbox, it queues behind them at once, to keep my order, and
// wakes RunOutbox. With no outbox configured it behaves like Send.
func (s *Service) SendOrQueue(ctx context.Context, room names.Room, text string, wait time.Duration) (Message, error) {
	return s.SendOrQueueID(ctx, room, "", text, wait)
}

// SendOrQueueID is SendOrQueue with an id from NewMessageID ("" picks
// one): sent or queued, the message keeps it.
func (s *Service) SendOrQueueID(ctx context.Context, room names.Room, id, text string, wait time.Duration) (Message, error) {
	if s.outbox == nil {
		return s.SendID(ctx, room, id, text)
	}
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	name := string(room)
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	// Messages already waiting go first, to keep my order.
	n, err := s.waitingCount()
	if err != nil {
		return Message{}, fmt.Errorf("send to %q: read the outbox: %w", name, err)
	}
	if n == 0 {
		sctx, cancel := context.WithTimeout(ctx, wait)
		m, err := s.SendID(sctx, room, id, text)
		cancel()
		unavailable := errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
		var ue *unsentError
		placed := errors.As(err, &ue) && ue.o != nil
		if placed && (unavailable || ctx.Err() != nil) {
			// Placed in my chain, sealed, perhaps written: queue the same
			// id, place and bytes, so it can never arrive twice nor leave
			// a gap in my chain (also when the caller gave up).
			s.obq.setDown(unavailable)
			return s.queueSealed(ue.o)
		}
		if err == nil || !unavailable || errors.Is(ctx.Err(), context.Canceled) {
			if err == nil {
				s.obq.setDown(false)
			}
			return m, err
		}
		s.obq.setDown(true)
	}
	return s.queue(ctx, name, id, string(payload{kind: KindText, text: text}.encode()))
}

// queueSealed queues a message already placed in my chain.
func (s *Service) queueSealed(o *outgoing) (Message, error) {
	e, err := s.selfSeal(o.room, o.id, o.at, o.body)
	if err != nil {
		return Message{}, err
	}
	if len(o.tried) > 0 {
		e.Envelope, e.Tried = o.tried[len(o.tried)-1], o.tried
	}
	e.Seq, e.Prev = o.h.Seq, crypto.MessageID(o.h.Prev).String()
	if err := s.saveEntry(e); err != nil {
		return Message{}, fmt.Errorf("queue message for %q: %w", o.room, err)
	}
	s.obq.queued(e.ID)
	s.signalOutbox()
	m := pendingMessage(o.room, o.id.String(), s.me.Name(), o.body, e.Queued)
	m.Seq = o.h.Seq
	return m, nil
}

func (s *Service) queue(ctx context.Context, room, given, body string) (Message, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, err
	}
	now := s.obq.stamp(s.now())
	id := crypto.NewMessageID(now)
	if given != "" {
		var err error
		if id, err = crypto.ParseMessageID(given); err != nil {
			return Message{}, fmt.Errorf("send to %q: %w", room, err)
		}
		now = id.Time()
	}
	e, err := s.selfSeal(room, id, now, body)
	if err != nil {
		return Message{}, err
	}
	if err := s.saveEntry(e); err != nil {
		return Message{}, fmt.Errorf("queue message for %q: %w", room, err)
	}
	s.obq.queued(e.ID)
	s.signalOutbox()
	return pendingMessage(room, id.String(), s.me.Name(), body, now), nil
}

// selfSeal makes an outbox entry whose text is sealed to my own key.
func (s *Service) selfSeal(room string, id crypto.MessageID, at time.Time, text string) (*outboxEntry, error) {
	k := crypto.NewRoomKey()
	h := crypto.Header{Commit: 1, Sender: s.me.Name(), Seq: 1, Time: at.UnixMilli()}
	sealed, err := crypto.SealMessage(s.me, k, outboxRoomPrefix+room, id, h, []byte(text))
	if err != nil {
		return nil, err
	}
	wrapped, err := crypto.WrapKeys(s.me.Public(), []byte(outboxRoomPrefix+room+"\x00"+id.String()), []crypto.RoomKey{k})
	if err != nil {
		return nil, err
	}
	return &outboxEntry{Room: room, ID: id.String(), Queued: at.UTC(), Sealed: sealed, SelfKey: wrapped}, nil
}

func (s *Service) saveEntry(e *outboxEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.outbox.Put(e.ID, b)
}

func (s *Service) openEntry(e *outboxEntry) (string, error) {
	id, err := crypto.ParseMessageID(e.ID)
	if err != nil {
		return "", err
	}
	keys, err := s.me.UnwrapKeys([]byte(outboxRoomPrefix+e.Room+"\x00"+e.ID), e.SelfKey)
	if err != nil || len(keys) != 1 {
		return "", fmt.Errorf("outbox entry %s: cannot open: %v", e.ID, err)
	}
	env, err := crypto.ParseEnvelope(e.Sealed)
	if err != nil {
		return "", err
	}
	if err := env.Verify(outboxRoomPrefix+e.Room, id, s.me.Public()); err != nil {
		return "", fmt.Errorf("outbox entry %s: %w", e.ID, err)
	}
	pt, err := env.Open(keys[0], outboxRoomPrefix+e.Room, id)
	return string(pt), err
}

// Pending lists the messages waiting in the outbox, oldest first; entries
// that failed for good carry the reason in Rejected.
func (s *Service) Pending() ([]Message, error) {
	if s.outbox == nil {
		return nil, nil
	}
	all, err := s.outbox.List()
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, id := range sortedIDs(all) {
		var e outboxEntry
		if err := json.Unmarshal(all[id], &e); err != nil {
			out = append(out, Message{ID: id, Rejected: "damaged outbox entry: " + err.Error(), Pending: true})
			continue
		}
		body, err := s.openEntry(&e)
		m := pendingMessage(e.Room, e.ID, s.me.Name(), body, e.Queued)
		m.Rejected = e.Failed
		if err != nil {
			m.Rejected = err.Error()
		}
		out = append(out, m)
	}
	return out, nil
}

// sortedIDs orders outbox ids oldest first (ids sort newest first).
func sortedIDs(m map[string][]byte) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	// Descending id is ascending time.
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] > ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// DeliverOutbox sends every queued message, oldest first, each exactly
// once, and returns those delivered. Each message's delivery is bounded by
// Options.OutboxWait, the whole only by ctx. It stops at the first that
// cannot be delivered for now (the cluster is still unavailable). If
// another process, or another call in this one, is delivering the same
// outbox, it returns at once.
func (s *Service) DeliverOutbox(ctx context.Context) ([]Message, error) {
	done, _, err := s.deliverRound(ctx)
	return done, err
}

// deliverRound is DeliverOutbox; busy reports that another delivery held
// the outbox.
func (s *Service) deliverRound(ctx context.Context) (done []Message, busy bool, err error) {
	if s.outbox == nil {
		return nil, false, nil
	}
	if !s.obq.deliver.TryLock() {
		return nil, true, nil
	}
	defer s.obq.deliver.Unlock()
	unlock, ok, err := s.outbox.TryLock()
	if err != nil || !ok {
		return nil, !ok && err == nil, err
	}
	defer unlock()
	all, err := s.listOutbox()
	if err != nil {
		return nil, false, err
	}
	for _, id := range sortedIDs(all) {
		var e outboxEntry
		if err := json.Unmarshal(all[id], &e); err != nil || e.Failed != "" {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, s.outboxWait)
		m, err := s.deliver(dctx, &e)
		timedOut := dctx.Err() != nil
		cancel()
		if err == nil {
			s.obq.setDown(false)
			done = append(done, m)
			if err := s.outbox.Delete(e.ID); err != nil {
				return done, false, err
			}
			s.obq.gone(e.ID)
			continue
		}
		if ctx.Err() != nil {
			return done, false, err
		}
		if errors.Is(err, store.ErrUnavailable) || timedOut {
			s.obq.setDown(true)
			if !errors.Is(err, store.ErrUnavailable) {
				err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
			}
			return done, false, fmt.Errorf("deliver queued message %s: %w", e.ID, err)
		}
		// Permanent: keep it, marked, so the user sees why.
		e.Failed = err.Error()
		if serr := s.saveEntry(&e); serr != nil {
			return done, false, serr
		}
		s.obq.gone(e.ID)
	}
	return done, false, nil
}

// FlushOutbox delivers what waits in the outbox, as DeliverOutbox, before
// a program that sent messages exits; but if the cluster was just found
// unavailable (it has failed for less than Options.OutboxWait), it returns
// at once rather than wait for it again. waiting is how many messages are
// left in the outbox.
func (s *Service) FlushOutbox(ctx context.Context) (done []Message, waiting int, err error) {
	if s.outbox == nil {
		return nil, 0, nil
	}
	for {
		n, err := s.waitingCount()
		if err != nil || n == 0 || s.obq.downWithin(s.outboxWait) {
			return done, n, err
		}
		round, busy, err := s.deliverRound(ctx)
		done = append(done, round...)
		if err != nil || busy || len(round) == 0 {
			n, lerr := s.waitingCount()
			return done, n, errors.Join(err, lerr)
		}
	}
}

// OutboxStatus reports how many messages wait in the outbox and whether
// the last attempt to reach the cluster (a send, or a delivery) failed.
func (s *Service) OutboxStatus() (waiting int, down bool, err error) {
	if s.outbox == nil {
		return 0, false, nil
	}
	n, err := s.waitingCount()
	return n, s.obq.isDown(), err
}

// deliver sends one queued message through the same state machine as Send,
// keeping its id and, once it has one, its place in my chain: every new
// envelope is saved in the entry before it is first written.
func (s *Service) deliver(ctx context.Context, e *outboxEntry) (Message, error) {
	text, err := s.openEntry(e)
	if err != nil {
		return Message{}, err
	}
	id, err := crypto.ParseMessageID(e.ID)
	if err != nil {
		return Message{}, err
	}
	o := &outgoing{room: e.Room, id: id, body: text, at: e.Queued}
	switch {
	case e.Envelope != nil:
		pe, err := crypto.ParseEnvelope(e.Envelope)
		if err != nil {
			return Message{}, fmt.Errorf("outbox entry %s: %w", e.ID, err)
		}
		o.h = pe.Header
		o.tried = append(append(o.tried, e.Tried...), e.Envelope)
	case e.Seq > 0:
		// Placed in my chain, not sealed yet: keep the place.
		prev, err := crypto.ParseMessageID(e.Prev)
		if err != nil {
			return Message{}, fmt.Errorf("outbox entry %s: %w", e.ID, err)
		}
		o.h = crypto.Header{Sender: s.me.Name(), Seq: e.Seq, Prev: prev, Time: e.Queued.UnixMilli()}
	}
	o.persist = func(o *outgoing) error {
		e.Envelope, e.Tried = o.tried[len(o.tried)-1], o.tried
		e.Seq, e.Prev = o.h.Seq, crypto.MessageID(o.h.Prev).String()
		return s.saveEntry(e)
	}
	return s.transmit(ctx, o)
}

// RunOutbox delivers queued messages in the background until ctx ends:
// at once, whenever a message is queued here, with growing pauses (up to
// 5 s) while the cluster stays unavailable or another process delivers,
// and every few seconds otherwise, for messages other processes queued.
// delivered, if not nil, is called for each message delivered.
func (s *Service) RunOutbox(ctx context.Context, delivered func(Message)) {
	if s.outbox == nil {
		return
	}
	failures := 0
	for ctx.Err() == nil {
		done, busy, err := s.deliverRound(ctx)
		for _, m := range done {
			if delivered != nil {
				delivered(m)
			}
		}
		n, lerr := s.waitingCount()
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil || lerr != nil || (n > 0 && (busy || len(done) == 0)):
			wait = outboxRetry(failures)
			failures++
			s.log.Debug("outbox delivery deferred", "waiting", n, "retry", wait, "err", errors.Join(err, lerr))
		case n > 0:
			// Queued during the round: deliver them now.
			failures = 0
			continue
		default:
			failures = 0
			wait = outboxPoll
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.outboxSignal:
		}
		t.Stop()
	}
}

func (s *Service) signalOutbox() {
	select {
	case s.outboxSignal <- struct{}{}:
	default:
	}
}
