// Package chat is Parley's domain API: users, rooms, membership, join
// requests, messages and live events. The command line and the terminal UI
// are thin layers over a Service.
//
// Chat decides what is true, treating etcd as hostile: membership follows
// only from a hash chain of signed commits (chain.go), pinned in the
// user's home (state.go); a message counts only if its signature, commit
// and sender's membership check out (messages.go); each message is sent
// exactly once, in one place (send.go). It knows nothing of etcd keys or
// transactions (package store owns them) and nothing of terminals.
//
// Rooms are named by names.Room, canonical by construction: the front ends
// parse what the user typed once, with Service.ParseRoom ("@bob" is my
// direct room with bob), names.ParseGroupRoom (CreateRoom) or
// names.ParseUser (DirectRoom), and chat never re-reads a room argument.
// Other users' names given to Approve, Deny, Remove, the trust calls and
// Devices are still strings as the user typed them, which chat parses.
// Names in results (RoomInfo.Name, Message.Sender, ...) stay strings, for
// display and JSON.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Errors callers branch on.
var (
	ErrNameTaken      = errors.New("username taken")
	ErrNoRoom         = errors.New("no such room")
	ErrRoomExists     = errors.New("room already exists")
	ErrNotMember      = errors.New("not a member of this room")
	ErrAlreadyMember  = errors.New("already a member")
	ErrNoRequest      = errors.New("no pending join request")
	ErrDenied         = errors.New("join request denied")
	ErrDirectRoom     = errors.New("direct rooms cannot be joined")
	ErrNoUser         = errors.New("no such user")
	ErrNotAllowed     = errors.New("not allowed")
	ErrKeyChanged     = errors.New("user's key changed since first seen")
	ErrMessageTooLong = errors.New("message too long")
	ErrRolledBack     = errors.New("room state rolled back in etcd")
	ErrTampered       = errors.New("room records tampered with in etcd")
	ErrClosed         = errors.New("room closed by its last member")
	ErrLastMember     = errors.New("you are the last member: leaving closes the room for good (say so with --delete)")
)

// MaxMessageBytes is the longest message text accepted, in bytes.
const MaxMessageBytes = 16 * 1024

// Pins remembers, on the user's own machine, the keys first seen for each
// user (trust on first use, as ssh's known_hosts), so that an attacker with
// write access to etcd cannot swap a user's keys unnoticed. Implementations
// must be safe for concurrent use.
type Pins interface {
	// Pinned returns the fingerprint pinned for user, or "" if none.
	Pinned(user string) string
	// Pin records the fingerprint for user.
	Pin(user, fingerprint string) error
}

// ReadMarks keeps, per room, the revision of the newest message the user
// has seen. It is local state: it never reaches etcd.
type ReadMarks interface {
	// ReadMark returns the revision recorded for room, 0 if none.
	ReadMark(room string) int64
	// SetReadMark records rev for room, unless a later one is recorded.
	SetReadMark(room string, rev int64) error
}

// Options configure a Service. The zero value is usable.
type Options struct {
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Pins remembers users' keys across runs; nil keeps them in memory only.
	Pins Pins
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Outbox keeps messages that could not be sent while the cluster was
	// unavailable; nil disables queueing (SendOrQueue then waits).
	Outbox Outbox
	// Verified remembers which envelopes were already verified, so a room
	// reopened later skips their signature checks; nil remembers nothing.
	Verified VerifiedCache
	// ReadMarks remembers how far the user has read each room, so unread
	// counts outlive the process; nil remembers nothing.
	ReadMarks ReadMarks
	// RoomPins keeps the verified state of each room in the home; nil
	// keeps it in memory only (a new process verifies from commit 1).
	RoomPins RoomPins
	// Heads keeps my chain head per room in the home, under a lock shared
	// by my processes; nil keeps them in memory.
	Heads ChainHeads
	// OutboxWait bounds each queued message's delivery by DeliverOutbox,
	// FlushOutbox and RunOutbox (the drain as a whole is bounded only by
	// its context, so a slow cluster still takes a long outbox); zero
	// means 5 seconds.
	OutboxWait time.Duration
	// Claimed reports that this identity's name claim was confirmed by the
	// cluster before, so Login may proceed while the cluster is
	// unavailable (messages then go to the outbox).
	Claimed bool
	// Linked, if set, says the identity given to Login is a linked
	// device's own keys, certified by the user's identity Linked holds.
	Linked *LinkedDevice
	// Recovery, when Login registers the user, is the identity derived
	// from the user's new recovery code (crypto.RecoveryCode): the user's
	// record names its public key, bound to the identity by its
	// signature. It is not kept.
	Recovery *crypto.Identity
}

// Service is one logged-in user's view of the chat. It is safe for
// concurrent use. Create it with Login.
type Service struct {
	st *store.Client // immutable after construction
	// me holds this device's keys: it signs and opens wraps. root is the
	// user's identity (me's public half on the identity's own device), dev
	// this device's id.
	me     *crypto.Identity
	user   names.User // me.Name(), parsed
	root   *crypto.PublicIdentity
	dev    string
	linked bool
	// registered says this Login created the user's record.
	registered bool
	log        *slog.Logger
	pins       Pins
	now        func() time.Time

	verified     VerifiedCache // nil: verify everything every time
	readMarks    ReadMarks     // nil: unread counts start afresh
	roomPins     RoomPins      // never nil
	heads        ChainHeads    // never nil
	outbox       Outbox        // nil: no queueing
	outboxSignal chan struct{} // wakes RunOutbox
	outboxWait   time.Duration // bounds one queued message's delivery
	obq          outboxState   // what this process knows of the outbox

	mu     sync.Mutex                        // guards the fields below
	users  map[string]*crypto.PublicIdentity // verified public identities
	devs   map[string]*crypto.PublicIdentity // verified device keys, by user/device/identity fingerprint
	recov  map[string][]byte                 // verified recovery keys, by user
	chains map[string]*idChain               // verified identity changes, by user
	rings  map[string]*keyRing               // room keys per room
	views  map[string]*roomView              // newest verified state per room
	seen   map[string]*seenState             // what I saw last per room
	forked map[string]error                  // evidence that a room's chain was forked
}

// Login claims the identity's user name in the cluster (create-only) or
// checks that the existing claim is this identity's. A name claimed by
// other keys fails with ErrNameTaken.
func Login(ctx context.Context, st *store.Client, me *crypto.Identity, opts Options) (*Service, error) {
	s := &Service{
		st:       st,
		me:       me,
		log:      opts.Logger,
		pins:     opts.Pins,
		now:      opts.Now,
		users:    make(map[string]*crypto.PublicIdentity),
		devs:     make(map[string]*crypto.PublicIdentity),
		recov:    make(map[string][]byte),
		chains:   make(map[string]*idChain),
		rings:    make(map[string]*keyRing),
		views:    make(map[string]*roomView),
		seen:     make(map[string]*seenState),
		forked:   make(map[string]error),
		roomPins: opts.RoomPins,
		heads:    opts.Heads,

		outbox:       opts.Outbox,
		verified:     opts.Verified,
		readMarks:    opts.ReadMarks,
		outboxSignal: make(chan struct{}, 1),
		outboxWait:   opts.OutboxWait,
	}
	if s.outboxWait <= 0 {
		s.outboxWait = defaultOutboxWait
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pins == nil {
		s.pins = newMemPins()
	}
	if s.roomPins == nil {
		s.roomPins = newMemRoomPins()
	}
	if s.heads == nil {
		s.heads = newMemHeads()
	}
	meName, err := names.ParseUser(me.Name())
	if err != nil {
		return nil, err
	}
	if string(meName) != me.Name() {
		return nil, fmt.Errorf("%w: user name %q is not in canonical form %q", names.ErrInvalid, me.Name(), meName)
	}
	s.user = meName
	pub := me.Public()
	s.root, s.dev = pub, deviceID(pub)
	if opts.Linked != nil {
		if err := s.loginLinked(ctx, opts.Linked, opts.Claimed); err != nil {
			return nil, err
		}
		return s, nil
	}
	u := store.User{Name: me.Name(), SigningKey: pub.SigningKey(), KEMKey: pub.KEMKey(), Created: s.now().UTC()}
	if opts.Recovery != nil {
		if opts.Recovery.Name() != me.Name() {
			return nil, fmt.Errorf("log in as %q: the recovery key is %q's", me.Name(), opts.Recovery.Name())
		}
		u.Recovery = opts.Recovery.Public().SigningKey()
		u.RecoverySig = opts.Recovery.Sign(recoveryBindingLabel, recoveryBinding(pub))
	}
	cctx := ctx
	if opts.Claimed {
		// A confirmed identity need not wait long to learn it is offline.
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	existing, err := st.CreateUser(cctx, me, u)
	switch {
	case err == nil:
		s.registered = true
	case errors.Is(err, store.ErrUnavailable) && opts.Claimed:
		s.log.Info("cluster unavailable; continuing with a confirmed identity", "user", me.Name())
	case errors.Is(err, store.ErrExists):
		other, perr := crypto.NewPublicIdentity(existing.Body.Name, existing.Body.SigningKey, existing.Body.KEMKey)
		if perr != nil || !other.Equal(pub) {
			// A rotated identity is the newest of its chain.
			got, _, lerr := s.lookupUsers(ctx, []string{me.Name()})
			if lerr != nil {
				return nil, fmt.Errorf("log in as %q: %w", me.Name(), lerr)
			}
			if cur := got[me.Name()]; cur == nil || !cur.Equal(pub) {
				return nil, fmt.Errorf("log in as %q: %w", me.Name(), ErrNameTaken)
			}
		}
	default:
		return nil, fmt.Errorf("log in as %q: %w", me.Name(), err)
	}
	s.users[me.Name()] = pub
	if existing != nil && recoveryBound(pub, existing.Body) {
		s.recov[me.Name()] = existing.Body.Recovery
	}
	if err := s.pin(me.Name(), pub); err != nil {
		return nil, err
	}
	return s, nil
}

// loginLinked logs in a linked device: its certificate must be the
// identity's for its keys, and the user's record in etcd that identity.
func (s *Service) loginLinked(ctx context.Context, l *LinkedDevice, claimed bool) error {
	me := s.me.Name()
	if l.Identity == nil || l.Identity.Name() != me {
		return fmt.Errorf("log in as %q: this device's link names another user", me)
	}
	if err := checkLinkedCert(l.Identity, l.Recovery, s.me, l.Cert); err != nil {
		return fmt.Errorf("log in as %q: this device's certificate: %w", me, err)
	}
	s.root, s.linked = l.Identity, true
	if s.pins.Pinned(me) == "" {
		if err := s.pin(me, l.Identity); err != nil {
			return err
		}
	}
	ch, err := s.chainOf(ctx, me)
	switch {
	case err == nil:
		// The identity it was linked to, or one it was rotated to since.
		if k, _ := ch.byFingerprint(l.Identity.Fingerprint()); k == nil {
			return fmt.Errorf("log in as %q: %w: the key stored for %s is not the identity this device was linked to", me, ErrNameTaken, me)
		}
		s.root = ch.current()
		return s.pin(me, s.root)
	case errors.Is(err, store.ErrUnavailable) && claimed:
		s.users[me] = l.Identity
		return nil
	default:
		return fmt.Errorf("log in as %q: %w", me, err)
	}
}

// Registered reports whether Login registered the user: it created the
// user's record, naming Options.Recovery's key.
func (s *Service) Registered() bool { return s.registered }

// Me returns the logged-in user's name.
func (s *Service) Me() string { return s.me.Name() }

// Fingerprint returns the logged-in user's key fingerprint.
func (s *Service) Fingerprint() string { return s.root.Fingerprint() }

// Endpoints returns the endpoints of the cluster the service uses.
func (s *Service) Endpoints() []string { return s.st.Endpoints() }

func (s *Service) pin(user string, p *crypto.PublicIdentity) error {
	fp := p.Fingerprint()
	switch old := s.pins.Pinned(user); old {
	case "":
		return s.pins.Pin(user, fp)
	case fp:
		return nil
	default:
		return &KeyChangedError{User: user, Pinned: old, Stored: fp}
	}
}

// checkPin reports a user record whose key differs from the one pinned.
// It pins nothing: pins are taken only from keys a room's signed chain
// admitted (see userKey), never from a record merely found in etcd.
func (s *Service) checkPin(user string, p *crypto.PublicIdentity) error {
	if old := s.pins.Pinned(user); old != "" && old != p.Fingerprint() {
		return &KeyChangedError{User: user, Pinned: old, Stored: p.Fingerprint()}
	}
	return nil
}

// lookupUsers returns verified public identities for the given names,
// fetching unknown ones in one round trip. Names that do not exist or whose
// records fail verification are absent; their reasons are in bad.
func (s *Service) lookupUsers(ctx context.Context, list []string) (map[string]*crypto.PublicIdentity, map[string]error, error) {
	out := make(map[string]*crypto.PublicIdentity, len(list))
	var missing []string
	var ask []names.User // missing, parsed
	seen := make(map[string]bool, len(list))
	bad := make(map[string]error)
	s.mu.Lock()
	for _, n := range list {
		if seen[n] {
			continue
		}
		seen[n] = true
		c, err := names.ParseUser(n)
		if err != nil || string(c) != n {
			// A name read from etcd that no user can have.
			bad[n] = fmt.Errorf("%w: %q is not a user name", ErrNoUser, n)
			continue
		}
		if p, ok := s.users[n]; ok {
			out[n] = p
		} else {
			missing = append(missing, n)
			ask = append(ask, c)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, bad, nil
	}
	found, badRecs, err := s.st.Identities(ctx, ask)
	if err != nil {
		return nil, nil, err
	}
	for n, e := range badRecs {
		bad[n] = e
	}
	for _, n := range missing {
		rec, ok := found[n]
		if !ok {
			if _, isBad := bad[n]; !isBad {
				bad[n] = fmt.Errorf("%w: %q", ErrNoUser, n)
			}
			continue
		}
		ch, err := s.verifyIdentity(n, rec)
		if err != nil {
			bad[n] = err
			continue
		}
		p := ch.current()
		if err := s.checkPinChain(n, ch); err != nil {
			bad[n] = err
			continue
		}
		out[n] = p
		s.mu.Lock()
		s.users[n] = p
		s.chains[n] = ch
		if recoveryBound(ch.keys[0], rec.User.Body) {
			s.recov[n] = rec.User.Body.Recovery
		}
		s.mu.Unlock()
	}
	return out, bad, nil
}

// User returns the verified public identity of a user.
func (s *Service) User(ctx context.Context, name string) (*crypto.PublicIdentity, error) {
	u, err := names.ParseUser(name)
	if err != nil {
		return nil, err
	}
	n := string(u)
	got, bad, err := s.lookupUsers(ctx, []string{n})
	if err != nil {
		return nil, err
	}
	if p, ok := got[n]; ok {
		return p, nil
	}
	if e, ok := bad[n]; ok {
		return nil, e
	}
	return nil, fmt.Errorf("%w: %q", ErrNoUser, n)
}

// VerifiedCache remembers, on the user's own disk, digests of envelopes
// whose signatures verified. A digest covers room, id and every byte of
// the envelope, so a changed record misses the cache and is verified
// again. It holds no plaintext and no keys. Implementations must be safe
// for concurrent use.
type VerifiedCache interface {
	// Seen reports whether the digest was recorded for room.
	Seen(room string, digest [16]byte) bool
	// Add records digests for room.
	Add(room string, digests [][16]byte) error
}

type memPins struct {
	mu sync.Mutex
	m  map[string]string
	v  map[string]string // verified marks (trust.go)
}

func newMemPins() *memPins { return &memPins{m: make(map[string]string)} }

func (p *memPins) Pinned(u string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[u]
}

func (p *memPins) Pin(u, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[u] = fp
	return nil
}
