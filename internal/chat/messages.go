package chat

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
)

// Message is one message as a reader sees it: verified and decrypted, or
// rejected with the reason.
type Message struct {
	Room     string    `json:"room"`
	ID       string    `json:"id"`
	Sender   string    `json:"sender"`
	Text     string    `json:"text,omitempty"`
	Time     time.Time `json:"time"`
	Revision int64     `json:"revision"`
	Epoch    uint32    `json:"epoch,omitempty"`
	Seq      uint64    `json:"seq,omitempty"`
	// Rejected, when set, says why the record was not accepted; Text is
	// then empty. Rejected records are shown, never silently dropped.
	Rejected string `json:"rejected,omitempty"`
	// Mine reports that I sent it.
	Mine bool `json:"-"`
	// Pending reports that it waits in the outbox for the cluster.
	Pending bool `json:"pending,omitempty"`

	prev      crypto.MessageID
	signed    bool // the signature verified (now or before)
	needsView bool // rejected for want of newer room state
}

// chain is my sending state in one room: each of my messages carries the
// next sequence number and the id of my previous message, so readers
// notice a message of mine that was deleted, withheld or replayed.
type chain struct {
	mu     sync.Mutex // guards the fields below
	loaded bool
	seq    uint64
	last   crypto.MessageID
}

// Send encrypts, signs and stores one message in room, exactly once: the
// message id is chosen here and the write is create-only, so a write
// retried after a timeout never appears twice. It retries while the
// cluster is unavailable, until ctx ends.
func (s *Service) Send(ctx context.Context, room, text string) (Message, error) {
	name, err := s.resolve(room)
	if err != nil {
		return Message{}, err
	}
	if err := checkText(text); err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	v, err := s.cachedView(ctx, name)
	if err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	if !v.isMember(s.me.Name()) || len(v.pending) > 0 {
		if v, err = s.memberView(ctx, name); err != nil {
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		}
	}
	ch, err := s.chainFor(ctx, v)
	if err != nil {
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	now := s.now()
	id := crypto.NewMessageID(now)
	h := crypto.Header{Sender: s.me.Name(), Time: now.UnixMilli()}

	ch.mu.Lock()
	h.Seq, h.Prev = ch.seq+1, ch.last
	env, err := s.seal(v, name, id, &h, text)
	if err != nil {
		ch.mu.Unlock()
		return Message{}, fmt.Errorf("send to %q: %w", name, err)
	}
	ch.seq, ch.last = h.Seq, id
	ch.mu.Unlock()

	sent := [][]byte{env}
	for attempt := 0; ; attempt++ {
		rev, err := s.write(ctx, name, id.String(), env, v.versionRev)
		if err == nil {
			return Message{
				Room: name, ID: id.String(), Sender: h.Sender, Text: text, Time: time.UnixMilli(h.Time).UTC(),
				Revision: rev, Epoch: h.Epoch, Seq: h.Seq, Mine: true, prev: h.Prev,
			}, nil
		}
		switch {
		case errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil:
			// Possibly committed: the same bytes again are safe.
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return Message{}, &unsentError{
					err:  fmt.Errorf("send to %q: %w (the message may still arrive: its id is %s)", name, store.ErrUnavailable, id),
					sent: &sealedSend{room: name, id: id, h: h, envs: sent, text: text},
				}
			}
		case errors.Is(err, store.ErrStale) && attempt < 8:
			// A member left or the key rotated: seal again under the
			// current epoch, keeping id and place in my chain.
			if v, err = s.memberView(ctx, name); err != nil {
				return Message{}, fmt.Errorf("send to %q: %w", name, err)
			}
			if env, err = s.seal(v, name, id, &h, text); err != nil {
				return Message{}, fmt.Errorf("send to %q: %w", name, err)
			}
			sent = append(sent, env)
		case errors.Is(err, store.ErrExists):
			// An earlier attempt under an older epoch may have gone through.
			raw, gerr := s.st.Message(ctx, name, id.String())
			if gerr == nil {
				for _, e := range sent {
					if string(e) == string(raw.Value) {
						msg := Message{
							Room: name, ID: id.String(), Sender: h.Sender, Text: text, Time: time.UnixMilli(h.Time).UTC(),
							Revision: raw.CreateRevision, Seq: h.Seq, Mine: true, prev: h.Prev,
						}
						if pe, perr := crypto.ParseEnvelope(raw.Value); perr == nil {
							msg.Epoch = pe.Epoch
						}
						return msg, nil
					}
				}
			}
			return Message{}, fmt.Errorf("send to %q: %w", name, err)
		default:
			return Message{}, err
		}
	}
}

// sealedSend is a message placed in my chain and sealed, whose write may or
// may not have committed.
type sealedSend struct {
	room string
	id   crypto.MessageID
	h    crypto.Header
	envs [][]byte // every envelope tried, newest last
	text string
}

// unsentError reports a send that could not be confirmed; sent carries its
// sealed state so that it can be queued under the same id and bytes.
type unsentError struct {
	err  error
	sent *sealedSend
}

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

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

func (s *Service) seal(v *roomView, name string, id crypto.MessageID, h *crypto.Header, text string) ([]byte, error) {
	keys, err := s.roomKeys(v)
	if err != nil {
		return nil, err
	}
	h.Epoch = v.current().epoch
	if int(h.Epoch) > len(keys) {
		return nil, fmt.Errorf("no key for epoch %d", h.Epoch)
	}
	return crypto.SealMessage(s.me, keys[h.Epoch-1], name, id, *h, []byte(text))
}

// chainFor returns my chain in the room, recovering it on first use from
// my newest message in etcd.
func (s *Service) chainFor(ctx context.Context, v *roomView) (*chain, error) {
	s.mu.Lock()
	ch := s.chains[v.name]
	if ch == nil {
		ch = &chain{}
		s.chains[v.name] = ch
	}
	s.mu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.loaded {
		return ch, nil
	}
	me := s.me.Name()
	// I cannot have sent anything before I first held a key of the room;
	// allow for clocks an hour apart.
	var since time.Time
	for _, e := range v.epochs {
		if w := e.wraps[me]; w != nil {
			since = w.Body.Created.Add(-time.Hour)
			break
		}
	}
	cursor := ""
	for {
		page, err := s.st.Messages(ctx, v.name, cursor, 500, 0)
		if err != nil {
			return nil, err
		}
		for _, raw := range page.Messages {
			env, err := crypto.ParseEnvelope(raw.Value)
			if err != nil || env.Sender != me {
				continue
			}
			id, err := crypto.ParseMessageID(raw.ID)
			if err != nil || env.Verify(v.name, id, s.me.Public()) != nil {
				continue
			}
			if env.Seq > ch.seq {
				ch.seq, ch.last = env.Seq, id
			}
		}
		// Pages are newest first; concurrent sends may commit slightly
		// out of order, so finish the page where mine first appears.
		if ch.seq > 0 || !page.More {
			break
		}
		if last := page.Messages[len(page.Messages)-1]; !since.IsZero() {
			if id, err := crypto.ParseMessageID(last.ID); err == nil && id.Time().Before(since) {
				break
			}
		}
		cursor = page.Next
	}
	ch.loaded = true
	return ch, nil
}

// Page is a stretch of a room's history, oldest first.
type Page struct {
	Room     string    `json:"room"`
	Messages []Message `json:"messages"`
	// Warnings report tampering that no single message shows: messages
	// missing from a sender's sequence, replays, deletions.
	Warnings []string `json:"warnings,omitempty"`
	// Revision is the etcd revision read; follow from Revision+1.
	Revision int64 `json:"revision"`
	// More reports that older messages exist; pass Cursor to Older.
	More   bool   `json:"more"`
	Cursor string `json:"cursor,omitempty"`
	// Rejected lists room records that failed verification.
	Rejected []Rejected `json:"rejected_records,omitempty"`
}

// History returns the newest limit messages of room (all of them if limit
// <= 0), verified and decrypted, oldest first.
func (s *Service) History(ctx context.Context, room string, limit int) (*Page, error) {
	name, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	return s.readPages(ctx, name, "", 0, limit)
}

// Older returns up to limit messages older than the page that returned
// cursor, read at the same revision.
func (s *Service) Older(ctx context.Context, room, cursor string, rev int64, limit int) (*Page, error) {
	name, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	return s.readPages(ctx, name, cursor, rev, limit)
}

const pageSize = 2000

func (s *Service) readPages(ctx context.Context, name, cursor string, rev int64, limit int) (*Page, error) {
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	if !v.isMember(s.me.Name()) && v.myWrap == nil {
		return nil, fmt.Errorf("read %q: %w", name, ErrNotMember)
	}
	out := &Page{Room: name, Rejected: v.rejected}
	complete := cursor == ""

	// Fetch the next page while this one is verified.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan store.MessagePage, 2)
	var fetchErr error
	go func() {
		defer close(pages)
		got := 0
		for {
			n := pageSize
			if limit > 0 {
				n = min(n, limit-got)
			}
			page, err := s.st.Messages(ctx, name, cursor, n, rev)
			if err != nil {
				fetchErr = err
				return
			}
			rev = page.Revision
			got += len(page.Messages)
			select {
			case pages <- page:
			case <-ctx.Done():
				fetchErr = ctx.Err()
				return
			}
			if !page.More || (limit > 0 && got >= limit) {
				return
			}
			cursor = page.Next
		}
	}()
	var msgs []Message
	var retry []store.RawMessage // judged with a view older than the page
	for page := range pages {
		out.More, out.Cursor, out.Revision = page.More, page.Next, page.Revision
		batch, err := s.verifyAll(ctx, v, page.Messages)
		if err != nil {
			return nil, err
		}
		for i, m := range batch {
			if m.needsView && v.revision < page.Revision {
				retry = append(retry, page.Messages[i])
				continue
			}
			msgs = append(msgs, m)
		}
	}
	if fetchErr != nil {
		return nil, fetchErr
	}
	if len(retry) > 0 {
		// Members approved after the state read may have sent messages.
		if v, err = s.loadView(ctx, name); err != nil {
			return nil, err
		}
		again, err := s.verifyAll(ctx, v, retry)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, again...)
	}
	slices.SortFunc(msgs, func(a, b Message) int { return messageOrder(a.Revision, b.Revision, a.ID, b.ID) })
	if out.More {
		complete = false
	}
	out.Messages = msgs
	out.Warnings = chainWarnings(msgs, complete)
	return out, nil
}

// verifyAll verifies and decrypts messages on every core, and returns them
// in revision order.
func (s *Service) verifyAll(ctx context.Context, v *roomView, raws []store.RawMessage) ([]Message, error) {
	slices.SortFunc(raws, func(a, b store.RawMessage) int { return messageOrder(a.CreateRevision, b.CreateRevision, a.ID, b.ID) })
	keys, _ := s.roomKeys(v) // nil if I hold none: messages are then rejected as unreadable
	envs := make([]*crypto.Envelope, len(raws))
	senders := make([]string, 0, 8)
	seen := make(map[string]bool)
	for i, r := range raws {
		env, err := crypto.ParseEnvelope(r.Value)
		if err != nil {
			continue
		}
		envs[i] = env
		if !seen[env.Sender] {
			seen[env.Sender] = true
			senders = append(senders, env.Sender)
		}
	}
	users, badUsers, err := s.lookupUsers(ctx, senders)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(raws))
	var fresh [][16]byte
	var freshMu sync.Mutex
	work := func(lo, hi int) {
		var mine [][16]byte
		// Signatures are checked in batches, about twice as fast as one
		// by one; the verified cache skips those seen before.
		const batchSize = 64
		var bv crypto.BatchVerifier
		state := make([]sigState, batchSize)
		digests := make([][16]byte, batchSize)
		slot := make([]int, batchSize)
		known := make([]bool, batchSize)
		for start := lo; start < hi; start += batchSize {
			end := min(start+batchSize, hi)
			for i := start; i < end; i++ {
				j := i - start
				state[j], slot[j], known[j] = sigUnknown, -1, false
				if s.verified != nil {
					digests[j] = envelopeDigest(v.name, raws[i].ID, raws[i].Value)
					if s.verified.Seen(v.name, digests[j]) {
						state[j], known[j] = sigGood, true
						continue
					}
				}
				env := envs[i]
				if env == nil {
					continue
				}
				p, ok := users[env.Sender]
				id, err := crypto.ParseMessageID(raws[i].ID)
				if !ok || err != nil {
					continue
				}
				slot[j] = bv.Add(env, v.name, id, p)
			}
			var results []error
			if bv.Len() > 0 {
				results = bv.Verify()
			}
			for i := start; i < end; i++ {
				j := i - start
				if slot[j] >= 0 {
					state[j] = sigGood
					if results[slot[j]] != nil {
						state[j] = sigBad
					}
				}
				out[i] = s.verifyOne(v, keys, users, badUsers, raws[i], envs[i], state[j])
				if s.verified != nil && !known[j] && out[i].signed {
					mine = append(mine, digests[j])
				}
			}
		}
		if len(mine) > 0 {
			freshMu.Lock()
			fresh = append(fresh, mine...)
			freshMu.Unlock()
		}
	}
	defer func() {
		if len(fresh) > 0 {
			if err := s.verified.Add(v.name, fresh); err != nil {
				s.log.Warn("cannot remember verified messages", "room", v.name, "err", err)
			}
		}
	}()
	workers := runtime.GOMAXPROCS(0)
	if len(raws) < 64 || workers == 1 {
		work(0, len(raws))
		return out, nil
	}
	var wg sync.WaitGroup
	chunk := (len(raws) + workers - 1) / workers
	for lo := 0; lo < len(raws); lo += chunk {
		hi := min(lo+chunk, len(raws))
		wg.Go(func() { work(lo, hi) })
	}
	wg.Wait()
	return out, nil
}

// envelopeDigest identifies an exact record for the verified cache.
func envelopeDigest(room, id string, value []byte) [16]byte {
	h := sha256.New()
	h.Write([]byte("parley/v1/verified\x00"))
	h.Write([]byte(room))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(value)
	var d [16]byte
	copy(d[:], h.Sum(nil))
	return d
}

// sigState is what is already known of a record's signature.
type sigState int

const (
	sigUnknown sigState = iota // not checked yet: verifyOne checks it
	sigGood                    // checked (in a batch, or remembered)
	sigBad                     // a batch found it bad
)

// verifyOne checks one record. sig says whether its signature was already
// checked; every other check always runs.
func (s *Service) verifyOne(v *roomView, keys []crypto.RoomKey, users map[string]*crypto.PublicIdentity, badUsers map[string]error, raw store.RawMessage, env *crypto.Envelope, sig sigState) Message {
	m := Message{Room: v.name, ID: raw.ID, Revision: raw.CreateRevision}
	reject := func(format string, args ...any) Message {
		m.Rejected = fmt.Sprintf(format, args...)
		m.Text = ""
		return m
	}
	id, err := crypto.ParseMessageID(raw.ID)
	if err != nil {
		return reject("bad message id: %v", err)
	}
	m.Time = id.Time().UTC()
	if env == nil {
		_, err := crypto.ParseEnvelope(raw.Value)
		return reject("malformed envelope: %v", err)
	}
	m.Sender, m.Epoch, m.Seq, m.prev = env.Sender, env.Epoch, env.Seq, crypto.MessageID(env.Prev)
	m.Time = time.UnixMilli(env.Time).UTC()
	m.Mine = env.Sender == s.me.Name()
	if raw.ModRevision != raw.CreateRevision {
		return reject("overwritten in etcd after it was sent")
	}
	p, ok := users[env.Sender]
	if !ok {
		if e := badUsers[env.Sender]; e != nil {
			return reject("sender %q: %v", env.Sender, e)
		}
		return reject("unknown sender %q", env.Sender)
	}
	switch sig {
	case sigBad:
		return reject("signature of %s does not verify (forged, tampered or moved)", env.Sender)
	case sigUnknown:
		if err := env.Verify(v.name, id, p); err != nil {
			return reject("signature of %s does not verify (forged, tampered or moved): %v", env.Sender, err)
		}
	}
	m.signed = true
	ep := v.epoch(env.Epoch)
	if ep == nil {
		m.needsView = true
		return reject("unknown key epoch %d", env.Epoch)
	}
	if ep.wraps[env.Sender] == nil {
		m.needsView = true
		return reject("%s was not a member in key epoch %d", env.Sender, env.Epoch)
	}
	if l := ep.left[env.Sender]; l != nil && l.CreateRevision < raw.CreateRevision {
		return reject("sent by %s after leaving", env.Sender)
	}
	if next := v.epoch(env.Epoch + 1); next != nil && raw.CreateRevision > next.createRev {
		return reject("sent under the retired key of epoch %d", env.Epoch)
	}
	if int(env.Epoch) > len(keys) {
		m.needsView = true
		return reject("no key for epoch %d (sent after you left)", env.Epoch)
	}
	pt, err := env.Open(keys[env.Epoch-1], v.name, id)
	if err != nil {
		return reject("cannot decrypt: %v", err)
	}
	m.Text = string(pt)
	if !utf8.ValidString(m.Text) {
		m.Text = strings.ToValidUTF8(m.Text, "\uFFFD")
	}
	return m
}

// chainWarnings checks each sender's sequence numbers and back links.
// complete says the messages are the room's whole history, so a sequence
// must start at 1.
func chainWarnings(msgs []Message, complete bool) []string {
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
