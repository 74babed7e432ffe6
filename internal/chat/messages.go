package chat

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Message is one message as a reader sees it: verified and decrypted, or
// rejected with the reason.
type Message struct {
	Room   string `json:"room"`
	ID     string `json:"id"`
	Sender string `json:"sender"`
	// Device is the sender's device that signed it, if not their
	// identity's own.
	Device   string    `json:"device,omitempty"`
	Text     string    `json:"text,omitempty"`
	Time     time.Time `json:"time"`
	Revision int64     `json:"revision"`
	// Commit is the membership commit the message was sealed under, and
	// Epoch that commit's key epoch.
	Commit uint64 `json:"commit,omitempty"`
	Epoch  uint32 `json:"epoch,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	// Kind is what the message is; the fields after it are set by kind:
	// a reply's ReplyTo, an edit's Edits (Text is the new text), a
	// deletion's Deletes, a reaction's ReactsTo and Reaction (Unreact: it
	// is taken back), a topic change's Topic.
	Kind     Kind   `json:"kind,omitempty"`
	ReplyTo  string `json:"reply_to,omitempty"`
	Edits    string `json:"edits,omitempty"`
	Deletes  string `json:"deletes,omitempty"`
	ReactsTo string `json:"reacts_to,omitempty"`
	Reaction string `json:"reaction,omitempty"`
	Unreact  bool   `json:"unreact,omitempty"`
	Topic    string `json:"topic,omitempty"`
	// Edited, Deleted, Reactions and Quote describe the final state of a
	// message once Fold applied the events that follow it.
	Edited    bool           `json:"edited,omitempty"`
	Deleted   bool           `json:"deleted,omitempty"`
	Reactions map[string]int `json:"reactions,omitempty"`
	Quote     *Quote         `json:"quote,omitempty"`
	// Rejected, when set, says why the record was not accepted; Text is
	// then empty. Rejected records are shown, never silently dropped.
	Rejected string `json:"rejected,omitempty"`
	// Mine reports that I sent it.
	Mine bool `json:"-"`
	// Pending reports that it waits in the outbox for the cluster.
	Pending bool `json:"pending,omitempty"`

	prev      crypto.MessageID
	seen      crypto.MessageID           // the newest message the sender had seen
	signed    bool                       // the signature verified (now or before)
	needsView bool                       // rejected for want of newer room state
	future    bool                       // dated far ahead of the reader's clock
	reactors  map[string]map[string]bool // Fold: emoji -> users
	evidence  bool                       // a signed message shows the chain served is not the members' chain
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
	// Stale reports that the cluster had no quorum: the messages are one
	// member's own copy, which may be behind.
	Stale bool `json:"stale,omitempty"`
}

// History returns the newest limit messages of room (all of them if limit
// <= 0), verified and decrypted, oldest first.
func (s *Service) History(ctx context.Context, room names.Room, limit int) (*Page, error) {
	name := string(room)
	return s.readPages(ctx, name, "", 0, limit, nil)
}

// Older returns up to limit messages older than the page that returned
// cursor, read at the same revision.
func (s *Service) Older(ctx context.Context, room names.Room, cursor string, rev int64, limit int) (*Page, error) {
	name := string(room)
	return s.readPages(ctx, name, cursor, rev, limit, nil)
}

// StreamHistory reads a room's whole history (or its newest limit
// messages) page by page, oldest page last, calling each with every page
// as soon as it is verified: memory stays bounded by a page, the first
// page shows at once, and each page is its own round trip, so a long
// history is never taken for an unavailable cluster. The Page returned
// holds no messages, only the warnings, revision and rejected records.
func (s *Service) StreamHistory(ctx context.Context, room names.Room, limit int, each func(*Page) error) (*Page, error) {
	name := string(room)
	return s.readPages(ctx, name, "", 0, limit, each)
}

const pageSize = 2000

// futureSkew is how far ahead of the reader's clock a message may be
// dated before it is flagged: its id then sorts among the newest keys
// although it is not new.
const futureSkew = 10 * time.Minute

func (s *Service) readPages(ctx context.Context, name, cursor string, rev int64, limit int, each func(*Page) error) (*Page, error) {
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	if v.Members[s.me.Name()] == nil {
		return nil, fmt.Errorf("read %q: %w", name, ErrNotMember)
	}
	out := &Page{Room: name, Rejected: v.rejected}
	if v.fault != nil {
		out.Warnings = append(out.Warnings, v.fault.Error())
	}
	complete := cursor == ""

	// Fetch the next page while this one is verified.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		page store.MessagePage
		err  error
	}
	pages := make(chan fetched, 2)
	var counted struct {
		sync.Mutex
		n int // messages that count toward limit
	}
	// With a limit, the next page is sized by what the last one counted,
	// so it is read only once that is known: which messages are read, and
	// so shown, must not depend on how fast the pages were verified.
	countedPage := make(chan struct{}, 1)
	go func() {
		defer close(pages)
		for {
			n := pageSize
			if limit > 0 {
				counted.Lock()
				n = min(n, max(limit-counted.n, 1))
				counted.Unlock()
			}
			page, err := s.st.Messages(ctx, names.Room(name), cursor, n, rev)
			select {
			case pages <- fetched{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			rev = page.Revision
			if !page.More {
				return
			}
			cursor = page.Next
			if limit > 0 {
				select {
				case <-countedPage:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var msgs []Message
	var retry []store.RawMessage // judged with a view older than the page
	now := s.now()
	tracker := newOrderTracker()
	for f := range pages {
		if f.err != nil {
			return nil, f.err
		}
		page := f.page
		out.More, out.Cursor, out.Revision = page.More, page.Next, page.Revision
		out.Stale = out.Stale || page.Stale
		batch, err := s.verifyAll(ctx, v, page.Messages)
		if err != nil {
			return nil, err
		}
		var keep []Message
		for i, m := range batch {
			if m.needsView && v.revision < page.Revision {
				retry = append(retry, page.Messages[i])
				continue
			}
			m.future = datedAhead(m.Time, now)
			keep = append(keep, m)
		}
		s.noteEvidence(name, keep)
		n := 0
		for _, m := range keep {
			if !m.future {
				n++
			}
		}
		counted.Lock()
		counted.n += n
		enough := limit > 0 && counted.n >= limit
		counted.Unlock()
		if limit > 0 && !enough {
			countedPage <- struct{}{}
		}
		if each != nil {
			slices.SortFunc(keep, func(a, b Message) int { return store.MessageOrder(a.Revision, b.Revision, a.ID, b.ID) })
			s.saw(name, keep)
			if err := each(&Page{Room: name, Messages: keep, Revision: page.Revision, More: page.More && !enough, Cursor: page.Next}); err != nil {
				return nil, err
			}
			msgs = append(msgs, stripText(keep)...)
		} else {
			msgs = append(msgs, keep...)
		}
		if enough {
			out.More = page.More
			cancel()
			break
		}
	}
	if err := parent.Err(); err != nil {
		// The reader may have stopped without a word: a history cut
		// short must not pass for the whole.
		return nil, fmt.Errorf("read %q: %w", name, err)
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
		s.noteEvidence(name, again)
		if each != nil && len(again) > 0 {
			if err := each(&Page{Room: name, Messages: again, Revision: out.Revision}); err != nil {
				return nil, err
			}
			again = stripText(again)
		}
		msgs = append(msgs, again...)
	}
	slices.SortFunc(msgs, func(a, b Message) int { return store.MessageOrder(a.Revision, b.Revision, a.ID, b.ID) })
	if limit > 0 {
		// The newest limit by the order every reader shows, not by key
		// order: a message dated in the future does not push out the
		// newest ones.
		msgs = newestByOrder(msgs, limit)
	}
	if out.More {
		complete = false
	}
	if each == nil {
		checkEvents(msgs, complete)
	}
	out.Warnings = append(out.Warnings, chainWarnings(msgs, complete, time.Duration(v.Disappear)*time.Second, now)...)
	for _, m := range msgs {
		tracker.add(m)
		if m.future {
			out.Warnings = append(out.Warnings, futureWarning(m))
		}
	}
	out.Warnings = append(out.Warnings, tracker.warnings()...)
	if err := s.forkedErr(name); err != nil {
		out.Warnings = append(out.Warnings, err.Error()+"; nothing is sent into this room")
	}
	if each == nil {
		s.saw(name, msgs)
		out.Messages = msgs
	}
	return out, nil
}

// datedAhead reports a message time far enough ahead of the reader's
// clock to be flagged (see futureSkew).
func datedAhead(t, now time.Time) bool {
	return !t.IsZero() && t.After(now.Add(futureSkew))
}

func futureWarning(m Message) string {
	return fmt.Sprintf("message %s from %s is dated %s, ahead of this machine's clock: its sender's clock is wrong or it was made to sort first", m.ID, m.Sender, m.Time.Format(time.RFC3339))
}

// newestByOrder keeps the newest limit messages of msgs (sorted), counting
// only those not dated in the future; those are kept wherever they fall.
func newestByOrder(msgs []Message, limit int) []Message {
	n := 0
	cut := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].future {
			continue
		}
		n++
		if n == limit {
			cut = i
			break
		}
	}
	return msgs[cut:]
}

// stripText keeps what the warnings need of messages already handed out.
func stripText(ms []Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = Message{ID: m.ID, Sender: m.Sender, Device: m.Device, Revision: m.Revision, Seq: m.Seq, Rejected: m.Rejected, Time: m.Time, prev: m.prev, seen: m.seen, future: m.future}
	}
	return out
}

// verifyAll verifies and decrypts messages on every core, and returns them
// in revision order.
func (s *Service) verifyAll(ctx context.Context, v *roomView, raws []store.RawMessage) ([]Message, error) {
	slices.SortFunc(raws, func(a, b store.RawMessage) int {
		return store.MessageOrder(a.CreateRevision, b.CreateRevision, a.ID, b.ID)
	})
	envs := make([]*crypto.Envelope, len(raws))
	senders := make([]string, 0, 8)
	seen := make(map[string]bool)
	epochs := make(map[uint32]bool)
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
		if uint64(env.Commit) <= v.N {
			epochs[v.epochAt(uint64(env.Commit))] = true
		}
	}
	users, badUsers, err := s.lookupUsers(ctx, senders)
	if err != nil {
		return nil, err
	}
	devKeys, err := s.senderDevices(ctx, v, senders, users)
	if err != nil {
		return nil, err
	}
	// Keys of every epoch the page needs, unwrapped or derived once.
	keys := make(map[uint32]crypto.RoomKey, len(epochs))
	keyErrs := make(map[uint32]error)
	for e := range epochs {
		k, err := s.epochKey(ctx, v, e)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
				return nil, err
			}
			keyErrs[e] = err
			continue
		}
		keys[e] = k
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
				env := envs[i]
				if env != nil && devKeys[env.Sender] != nil {
					// Which device signed is found by verifying in
					// verifyOne; the cache does not say.
					continue
				}
				if s.verified != nil {
					digests[j] = envelopeDigest(v.Name, raws[i].ID, raws[i].Value)
					if s.verified.Seen(v.Name, digests[j]) {
						state[j], known[j] = sigGood, true
						continue
					}
				}
				if env == nil {
					continue
				}
				p, ok := users[env.Sender]
				id, err := crypto.ParseMessageID(raws[i].ID)
				if !ok || err != nil {
					continue
				}
				slot[j] = bv.Add(env, v.Name, id, p)
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
				out[i] = s.verifyOne(v, keys, keyErrs, users, devKeys, badUsers, raws[i], envs[i], state[j])
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
			if err := s.verified.Add(v.Name, fresh); err != nil {
				s.log.Warn("cannot remember verified messages", "room", v.Name, "err", err)
			}
		}
	}()
	workers := runtime.GOMAXPROCS(0)
	if len(raws) < 64 || workers == 1 {
		work(0, len(raws))
	} else {
		var wg sync.WaitGroup
		chunk := (len(raws) + workers - 1) / workers
		for lo := 0; lo < len(raws); lo += chunk {
			hi := min(lo+chunk, len(raws))
			wg.Go(func() { work(lo, hi) })
		}
		wg.Wait()
	}
	return out, nil
}

// senderDevices returns the keys of the devices other than the identity's
// own of those senders who have any in the room (current or dropped).
func (s *Service) senderDevices(ctx context.Context, v *roomView, senders []string, users map[string]*crypto.PublicIdentity) (map[string][]devKey, error) {
	var out map[string][]devKey
	for _, u := range senders {
		m, p := v.Members[u], users[u]
		if m == nil || p == nil || (m.Key == p.Fingerprint() && len(m.Devices) < 2 && len(m.Former) == 0 && len(m.OldKeys) == 0) {
			continue
		}
		// The identities the room admitted for u: before rekeys, and the
		// one it admits now, which may lag behind u's newest (a rotation
		// under way).
		admitted := make([]string, 0, len(m.OldKeys)+1)
		for _, ok := range m.OldKeys {
			admitted = append(admitted, ok.Key)
		}
		if m.Key != p.Fingerprint() {
			admitted = append(admitted, m.Key)
		}
		for _, fp := range admitted {
			old, err := s.userKeyPin(ctx, u, fp, false)
			if err != nil {
				if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
					return nil, err
				}
				continue
			}
			if out == nil {
				out = make(map[string][]devKey)
			}
			out[u] = append(out[u], devKey{pub: old, fp: fp})
		}
		if len(m.Devices) < 2 && len(m.Former) == 0 {
			continue
		}
		ds := slices.Clone(m.Devices[1:])
		for d := range m.Former {
			if !slices.Contains(ds, d) {
				ds = append(ds, d)
			}
		}
		slices.Sort(ds)
		for _, d := range ds {
			dp, err := s.deviceKey(ctx, u, m.Key, d, false)
			if err != nil {
				if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
					return nil, err
				}
				s.log.Warn("a device's certificate does not verify", "user", u, "device", d, "err", err)
				continue
			}
			if out == nil {
				out = make(map[string][]devKey)
			}
			out[u] = append(out[u], devKey{id: d, pub: dp})
		}
	}
	return out, nil
}

// noteEvidence looks, in messages whose verdict is final, for a current
// member's signed word that the chain etcd serves is not theirs.
func (s *Service) noteEvidence(room string, msgs []Message) {
	for _, m := range msgs {
		if m.evidence {
			s.markForked(room, fmt.Errorf("room %q: %w: message %s from %s was %s", room, ErrTampered, m.ID, m.Sender, m.Rejected))
			return
		}
	}
}

// markForked remembers, for this process, that signed messages show the
// room's chain in etcd is not the one its members wrote: nothing is sent
// into it.
func (s *Service) markForked(room string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forked[room] == nil {
		s.forked[room] = err
	}
}

func (s *Service) forkedErr(room string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forked[room]
}

// envelopeDigest identifies an exact record for the verified cache.
func envelopeDigest(room, id string, value []byte) [16]byte {
	h := sha256.New()
	h.Write([]byte("parley/v2/verified\x00"))
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

// maxIDSkew is how far a message id's time may be from the time its
// sender signed: an honest client takes both from one clock reading.
const maxIDSkew = time.Minute

// verifyOne checks one record: this is the authorship promise. A message
// counts only if its sender's signature verifies with the key the room
// admitted for them, the commit it names is this room's commit (number and
// digest), the sender was a member at that commit, and, if they have left
// or been removed since, it is not numbered past the last message their
// departure recorded. sig says whether the signature was already checked;
// every other check always runs.
func (s *Service) verifyOne(v *roomView, keys map[uint32]crypto.RoomKey, keyErrs map[uint32]error, users map[string]*crypto.PublicIdentity, devKeys map[string][]devKey, badUsers map[string]error, raw store.RawMessage, env *crypto.Envelope, sig sigState) Message {
	m := Message{Room: v.Name, ID: raw.ID, Revision: raw.CreateRevision}
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
	m.Sender, m.Commit, m.Seq, m.prev, m.seen = env.Sender, uint64(env.Commit), env.Seq, crypto.MessageID(env.Prev), crypto.MessageID(env.Seen)
	m.Time = time.UnixMilli(env.Time).UTC()
	m.Mine = env.Sender == s.me.Name()
	var sigFP string   // fingerprint of the identity key that signed it
	linkedDev := false // signed by a device certified by the identity
	// Its etcd revisions decide nothing: the same bytes put again are the
	// same message, and other bytes fail the signature below.
	p, ok := users[env.Sender]
	if ok {
		sigFP = p.Fingerprint()
	}
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
		err := env.Verify(v.Name, id, p)
		if err != nil {
			// Signed by another of the sender's devices, or by an
			// identity they had before?
			for _, dk := range devKeys[env.Sender] {
				if env.Verify(v.Name, id, dk.pub) == nil {
					err, m.Device, sigFP = nil, dk.id, ""
					if dk.fp != "" {
						// An identity they had before: its own device
						// (none if the room still admits it).
						m.Device, sigFP = deviceID(dk.pub), dk.fp
						if mem := v.Members[env.Sender]; mem != nil && mem.Key == dk.fp {
							m.Device = ""
						}
					} else {
						linkedDev = true
					}
					break
				}
			}
		}
		if err != nil {
			return reject("signature of %s does not verify (forged, tampered or moved): %v", env.Sender, err)
		}
	}
	m.signed = true
	if d := id.Time().Sub(m.Time); d > maxIDSkew || d < -maxIDSkew {
		return reject("its id is dated %s from the time %s signed", d.Round(time.Second), env.Sender)
	}
	c := uint64(env.Commit)
	// A current member's signed word that the chain differs is evidence
	// against the chain etcd serves (a departed member's or an outsider's
	// is not: they could forge it to stop the room).
	member := v.isMember(env.Sender) && v.Members[env.Sender].Key == p.Fingerprint()
	if c > v.N {
		m.needsView, m.evidence = true, member
		return reject("sealed under commit %d, past the newest this room's chain holds (%d): commits are withheld", c, v.N)
	}
	if string(v.prefix(c)) != string(env.CommitDigest[:]) {
		m.evidence = member
		return reject("sealed under a commit %d that is not this room's (a forked or rewritten chain)", c)
	}
	sp := v.spanAt(env.Sender, c)
	if sp == nil {
		return reject("%s was not a member at commit %d", env.Sender, c)
	}
	mem := v.Members[env.Sender]
	if sigFP != "" && mem.keyAt(c) != sigFP {
		return reject("signed with a key of %s that the room did not admit", env.Sender)
	}
	if linkedDev && !slices.Contains(mem.Devices, m.Device) {
		if n, ok := mem.Former[m.Device]; !ok || c >= n {
			return reject("sent from device %s of %s, which the room no longer lists (revoked)", m.Device, env.Sender)
		}
	}
	if sp.To != 0 && sp.HasEnd && sp.HeadDevice == m.Device && env.Seq > sp.Head {
		if sp.How == "removed" {
			return reject("sent by %s after being removed", env.Sender)
		}
		return reject("sent by %s after leaving", env.Sender)
	}
	e := v.epochAt(c)
	m.Epoch = e
	k, ok := keys[e]
	if !ok {
		if err := keyErrs[e]; err != nil && !errors.Is(err, errNoKey) {
			return reject("cannot decrypt: %v", err)
		}
		how := "after you left"
		if my := lastSpan(v.roomState, s.me.Name()); my != nil && my.How == "removed" {
			how = "after you were removed"
		}
		if errors.Is(keyErrs[e], ErrDeviceNotListed) {
			return reject("not readable here: this device was revoked (it holds no key for epoch %d)", e)
		}
		return reject("sent %s (no key for epoch %d)", how, e)
	}
	pt, err := env.Open(k, v.Name, id)
	if err != nil {
		return reject("cannot decrypt: %v", err)
	}
	pl, err := decodePayload(pt)
	if err != nil {
		return reject("%v", err)
	}
	m.apply(pl)
	return m
}

// apply sets the fields of a decoded payload.
func (m *Message) apply(p payload) {
	m.Kind = p.kind
	t := p.target.String()
	switch p.kind {
	case KindText, KindReply, KindEdit:
		m.Text = p.text
	case KindTopic:
		m.Topic = p.text
	}
	switch p.kind {
	case KindReply:
		m.ReplyTo = t
	case KindEdit:
		m.Edits = t
	case KindDelete:
		m.Deletes = t
	case KindReaction:
		m.ReactsTo, m.Reaction, m.Unreact = t, p.text, !p.add
	case KindUnknown:
		m.Text = ""
	}
}

// chainWarnings checks each sender's sequence numbers and back links.
// complete says the messages are the room's whole history, so a sequence
// must start at 1. Its cost follows the messages, not their numbers: a
// member who signs a message numbered 2^62 gets a warning, not a reader
// counting up to it. In a room whose messages disappear after d, a missing
// message is reported only if it was certainly still due to live (see
// seqChecker.disappear).
func chainWarnings(msgs []Message, complete bool, d time.Duration, now time.Time) []string {
	c := newSeqChecker()
	c.disappear, c.now = d, now
	for _, m := range msgs {
		c.add(m)
	}
	return c.warnings(complete)
}

// orderTracker checks the causal links of messages in the order they are
// shown: a message names the newest one its sender had seen, so a message
// shown before one it says it followed was reordered in etcd (deleted and
// put back), and every reader whose order differs notices.
type orderTracker struct {
	shown   map[crypto.MessageID]bool
	waiting map[crypto.MessageID][]Message // seen id -> messages shown before it
	warns   []string
}

func newOrderTracker() *orderTracker {
	return &orderTracker{shown: make(map[crypto.MessageID]bool), waiting: make(map[crypto.MessageID][]Message)}
}

func (t *orderTracker) add(m Message) {
	if m.Rejected != "" {
		return
	}
	id, err := crypto.ParseMessageID(m.ID)
	if err != nil {
		return
	}
	if m.seen != (crypto.MessageID{}) && !t.shown[m.seen] {
		t.waiting[m.seen] = append(t.waiting[m.seen], m)
	}
	t.shown[id] = true
	for _, early := range t.waiting[id] {
		t.warns = append(t.warns, fmt.Sprintf("message %s from %s is shown before message %s from %s, which it followed: the order in etcd was changed", early.ID, early.Sender, m.ID, m.Sender))
	}
	delete(t.waiting, id)
}

func (t *orderTracker) warnings() []string { return t.warns }
