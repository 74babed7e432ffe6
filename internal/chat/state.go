package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// RoomPins keeps, on the user's own machine, the verified state of each
// room: the newest commit of its chain that this home accepted, with its
// digest and the roster it gives. A later run reads only the commits after
// it, and reports a chain in etcd that is shorter, different or forked
// (ErrRolledBack) instead of trusting it. Implementations must be safe for
// concurrent use.
type RoomPins interface {
	// LoadRoom returns what SaveRoom stored for room, or nil if nothing.
	LoadRoom(room string) ([]byte, error)
	// SaveRoom stores state for room, replacing what was there.
	SaveRoom(room string, state []byte) error
}

// roomView is a room as verified at one read: the pinned state plus what
// the read showed besides the chain. It is immutable once built.
type roomView struct {
	*roomState
	revision int64 // etcd revision of the read
	requests []JoinRequest
	rejected []Rejected
	// fault, when set, says etcd contradicts what this home verified
	// before, or an invalid commit blocks the chain: nothing is sent.
	fault error
	// blocker is the invalid commit at N+1, if that is the fault.
	blocker *store.Signed[store.Commit]
}

// Rejected is a record in etcd that Parley refused to use, with the reason.
type Rejected struct {
	Room     string `json:"room,omitempty"`
	What     string `json:"what"`
	Reason   string `json:"rejected"`
	Revision int64  `json:"revision"`
}

// JoinRequest is a pending request to join a group room.
type JoinRequest struct {
	Room     string    `json:"room"`
	User     string    `json:"user"`
	Time     time.Time `json:"time"`
	Revision int64     `json:"revision"`

	// NewDevice marks a member's request to list a new device of theirs
	// (recovered with their recovery code).
	NewDevice bool `json:"new_device,omitempty"`

	rec     *store.Signed[store.Request]
	pub     *crypto.PublicIdentity // the requester's identity
	devices []string               // the devices to wrap the key to
}

// requestKeys verifies a join request: signed by a device of its author's
// identity (the one it names), listing that identity's device first.
func (s *Service) requestKeys(ctx context.Context, r *store.Signed[store.Request]) (*crypto.PublicIdentity, []string, error) {
	u, b := r.Body.User, r.Body
	p, err := s.userKeyPin(ctx, u, b.Key, false)
	if err != nil {
		return nil, nil, err
	}
	signer, err := s.deviceKey(ctx, u, b.Key, b.Device, false)
	if err != nil {
		return nil, nil, err
	}
	if err := r.Verify(signer); err != nil {
		return nil, nil, err
	}
	devs := b.Devices
	if len(devs) == 0 {
		devs = []string{deviceID(p)}
	}
	if err := checkDeviceList(devs); err != nil {
		return nil, nil, fmt.Errorf("join request of %s: %v", u, err)
	}
	if devs[0] != deviceID(p) || (b.Device != "" && !slices.Contains(devs, b.Device)) {
		return nil, nil, fmt.Errorf("join request of %s: its devices do not start with the identity's, or leave out the one that signed it", u)
	}
	for _, d := range devs[1:] {
		if _, err := s.deviceKey(ctx, u, b.Key, d, false); err != nil {
			return nil, nil, err
		}
	}
	return p, slices.Clone(devs), nil
}

func (v *roomView) hasRequest(u string) *JoinRequest {
	for i := range v.requests {
		if v.requests[i].User == u {
			return &v.requests[i]
		}
	}
	return nil
}

// loadView brings a room's verified state up to date with etcd and caches
// it: it reads the commits after the pinned one (one round trip when
// nothing changed, whatever the room's size or age), verifies each, and
// pins the result in the home.
func (s *Service) loadView(ctx context.Context, room string) (*roomView, error) {
	base, err := s.pinned(room)
	if err != nil {
		return nil, err
	}
	var pin uint64
	if base != nil {
		pin = base.N
	}
	read, err := s.st.RoomChain(ctx, names.Room(room), pin, pin+1, 0)
	if err != nil {
		return nil, err
	}
	v := &roomView{revision: read.Revision}
	reject := func(what string, rev int64, err error) {
		v.rejected = append(v.rejected, Rejected{Room: room, What: what, Reason: err.Error(), Revision: rev})
	}
	for _, b := range read.Bad {
		if b.Key != "" && bytes.Contains([]byte(b.Key), []byte("/c/")) {
			continue // reported when the chain reaches it
		}
		reject("record", b.Revision, b.Err)
	}
	if read.Room == nil {
		if base != nil {
			return nil, fmt.Errorf("room %q: %w: its record is gone from etcd", room, ErrRolledBack)
		}
		for _, b := range read.Bad {
			return nil, fmt.Errorf("room %q: %w: its record is rejected: %v", room, ErrNoRoom, b.Err)
		}
		return nil, fmt.Errorf("%w: %q", ErrNoRoom, room)
	}
	if base == nil {
		if err := s.verifyRoomRecord(ctx, read.Room); err != nil {
			return nil, fmt.Errorf("room %q: record rejected: %w", room, err)
		}
		base = newRoomState(read.Room)
	} else if !bytes.Equal(read.Room.Digest(), base.RoomDigest) {
		v.roomState = base
		v.fault = fmt.Errorf("room %q: %w: its record is not the one seen before", room, ErrRolledBack)
		return v, nil
	}
	if pin > 0 && (read.Pinned == nil || !bytes.Equal(read.Pinned.Digest(), base.Digest)) {
		v.roomState = base
		what := "is gone"
		if read.Pinned != nil {
			what = "is not the one seen before"
		}
		v.fault = fmt.Errorf("room %q was rolled back or rewritten in etcd: commit %d %s: %w", room, pin, what, ErrRolledBack)
		return v, nil
	}

	// Each page of commits is applied to one clone of the state before
	// it (apply is O(1) per commit but a clone is O(members)).
	work := base
	commits, more := read.Commits, read.More
	for len(commits) > 0 {
		if err := s.prefetchSigners(ctx, work, commits); err != nil {
			return nil, err
		}
		before := work
		work = before.clone()
		good := before.N
		var bad error
		var blocker *store.Signed[store.Commit]
		for _, c := range commits {
			if err := work.apply(c, s.keyFunc(ctx)); err != nil {
				if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
					return nil, err
				}
				bad, blocker = err, c
				break
			}
			good = c.Body.N
		}
		if bad != nil {
			// work may be half changed: replay the good ones afresh.
			work = before.clone()
			for _, c := range commits {
				if c.Body.N > good || work.apply(c, s.keyFunc(ctx)) != nil {
					break
				}
			}
			reject("commit "+strconv.FormatUint(good+1, 10), read.Revision, bad)
			v.fault = fmt.Errorf("room %q: %w: an invalid commit %d in etcd blocks it: %v", room, ErrTampered, good+1, bad)
			if blocker.Body.N == good+1 && !errors.Is(bad, errUnverifiable) {
				v.blocker = blocker
			}
			break
		}
		if !more {
			break
		}
		next, err := s.st.RoomChain(ctx, names.Room(room), 0, work.N+1, 0)
		if err != nil {
			return nil, err
		}
		commits, more = next.Commits, next.More
	}
	if work.N == 0 {
		return nil, fmt.Errorf("room %q has no valid creation commit: %w", room, errors.Join(ErrTampered, v.fault))
	}
	v.roomState = work

	for _, r := range read.Requests {
		u := r.Body.User
		if work.isMember(u) && !addsDevices(work.Members[u], r.Body.Devices) {
			continue // answered meanwhile
		}
		if d := work.Denied[u]; d != nil && bytes.Equal(d, r.Digest()) {
			continue // denied; etcd put it back
		}
		p, devs, err := s.requestKeys(ctx, r)
		if err != nil {
			reject("join request of "+u, r.ModRevision, err)
			continue
		}
		v.requests = append(v.requests, JoinRequest{Room: room, User: u, Time: r.Body.Created, Revision: r.ModRevision, NewDevice: work.isMember(u), rec: r, pub: p, devices: devs})
	}

	if work.N > pin {
		s.savePin(work)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.views[room]; old == nil || old.N <= work.N {
		s.views[room] = v
	}
	return v, nil
}

// verifyRoomRecord checks a room record's signature: by its creator's
// device, or by their identity then, which may have been rotated since.
func (s *Service) verifyRoomRecord(ctx context.Context, rec *store.Signed[store.Room]) error {
	b := rec.Body
	if b.Device != "" {
		p, err := s.deviceKey(ctx, b.Creator, "", b.Device, false)
		if err != nil {
			return err
		}
		return rec.Verify(p)
	}
	ch, err := s.chainOf(ctx, b.Creator)
	if err != nil {
		return err
	}
	for i := len(ch.keys) - 1; i >= 0; i-- {
		if err = rec.Verify(ch.keys[i]); err == nil {
			return nil
		}
	}
	return err
}

// pinned returns the newest verified state of room this service or its
// home holds, or nil.
func (s *Service) pinned(room string) (*roomState, error) {
	s.mu.Lock()
	v := s.views[room]
	s.mu.Unlock()
	if v != nil {
		return v.roomState, nil
	}
	b, err := s.roomPins.LoadRoom(room)
	if err != nil {
		return nil, fmt.Errorf("room %q: read the pinned state: %w", room, err)
	}
	if b == nil {
		return nil, nil
	}
	var st roomState
	if err := json.Unmarshal(b, &st); err != nil || st.Name != room || st.N == 0 {
		return nil, fmt.Errorf("room %q: the pinned state in this home is damaged; remove it to verify the room again from its first commit", room)
	}
	if st.Members == nil {
		st.Members = make(map[string]*member)
	}
	if st.Denied == nil {
		st.Denied = make(map[string][]byte)
	}
	if st.DeniedBy == nil {
		st.DeniedBy = make(map[string]string)
	}
	return &st, nil
}

func (s *Service) savePin(st *roomState) {
	b, err := json.Marshal(st)
	if err == nil {
		err = s.roomPins.SaveRoom(st.Name, b)
	}
	if err != nil {
		s.log.Warn("cannot pin the room's state", "room", st.Name, "err", err)
	}
}

// cachedView returns the newest verified view, reading it if none is cached.
func (s *Service) cachedView(ctx context.Context, room string) (*roomView, error) {
	s.mu.Lock()
	v := s.views[room]
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	return s.loadView(ctx, room)
}

// prefetchSigners looks up, in one round trip, the keys of everyone who
// signed one of commits.
func (s *Service) prefetchSigners(ctx context.Context, st *roomState, commits []*store.Signed[store.Commit]) error {
	want := []string{st.Creator}
	for _, c := range commits {
		if c.Malformed() == nil {
			want = append(want, c.Signer)
		}
	}
	_, _, err := s.lookupUsers(ctx, want)
	return err
}

// keyFunc returns the keyOf that apply uses: a user's verified identity,
// which must have fingerprint fp if fp is given.
func (s *Service) keyFunc(ctx context.Context) keyOf {
	return func(user, fp, dev string) (*crypto.PublicIdentity, error) {
		return s.deviceKey(ctx, user, fp, dev, true)
	}
}

// userKey returns user's verified identity; if fp is not "", it must be
// the identity a room's signed chain admitted, and it is pinned.
func (s *Service) userKey(ctx context.Context, user, fp string) (*crypto.PublicIdentity, error) {
	return s.userKeyPin(ctx, user, fp, true)
}

// userKeyPin is userKey; pin false checks fp without pinning it (a join
// request names its author's key, but only a member's commit vouches).
func (s *Service) userKeyPin(ctx context.Context, user, fp string, pin bool) (*crypto.PublicIdentity, error) {
	got, bad, err := s.lookupUsers(ctx, []string{user})
	if err != nil {
		return nil, err
	}
	if fp != "" {
		// An identity the user had before: its successor is pinned.
		if old := s.ancestor(user, fp); old != nil {
			return old, nil
		}
	}
	if p, ok := got[user]; ok && fp != "" && p.Fingerprint() != fp {
		// The record read before may have been a forgery since replaced,
		// or the user rotated their identity since: read it again before
		// deciding.
		s.mu.Lock()
		delete(s.users, user)
		s.mu.Unlock()
		if got, bad, err = s.lookupUsers(ctx, []string{user}); err != nil {
			return nil, err
		}
	}
	p, ok := got[user]
	if !ok {
		if e := bad[user]; e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("%w: %q", ErrNoUser, user)
	}
	if fp != "" && p.Fingerprint() != fp {
		if old := s.ancestor(user, fp); old != nil {
			return old, nil
		}
	}
	if fp != "" {
		if p.Fingerprint() != fp {
			return nil, fmt.Errorf("%w: the key stored for %s is not the one the room admitted", ErrKeyChanged, user)
		}
		// A key a signed commit admitted: pin it.
		if pin {
			if err := s.pin(user, p); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// ancestor returns the identity with fingerprint fp that user had before
// their current one, from the verified chain in memory, or nil.
func (s *Service) ancestor(user, fp string) *crypto.PublicIdentity {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.chains[user]
	if ch == nil || ch.current().Fingerprint() == fp {
		return nil
	}
	old, _ := ch.byFingerprint(fp)
	return old
}

// keyRing caches a room's unwrapped epoch keys. mu guards keys.
type keyRing struct {
	mu   sync.Mutex
	keys map[uint32]crypto.RoomKey
}

// wrapInfo is the HPKE context of a wrap: room, commit, tag, recipient and
// device.
func wrapInfo(room string, n uint64, tag, user, device string) []byte {
	b := make([]byte, 0, len(room)+len(user)+len(tag)+len(device)+24)
	b = append(b, room...)
	b = append(b, 0)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, 0)
	b = append(b, tag...)
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	return append(b, device...)
}

// errNoKey means I hold no key for the epoch asked for: it began after I
// left or was removed (or before a wrap reached me).
var errNoKey = errors.New("no key for this epoch")

// epochKey returns the key of epoch e of the room, unwrapping my newest
// wrap once and walking the key links back to older epochs. Every key is
// checked against the commitment of the commit that started its epoch, so
// a wrap or link planted in etcd cannot hand me a key of someone else's
// choosing.
func (s *Service) epochKey(ctx context.Context, v *roomView, e uint32) (crypto.RoomKey, error) {
	var zero crypto.RoomKey
	if e == 0 || int(e) > len(v.Epochs) {
		return zero, fmt.Errorf("room %q: epoch %d: %w", v.Name, e, errNoKey)
	}
	me := s.me.Name()
	m := v.Members[me]
	if m == nil {
		return zero, fmt.Errorf("room %q: %w", v.Name, ErrNotMember)
	}
	if !slices.Contains(m.Devices, s.dev) {
		// Dropped (revoked): the keys of epochs from then on were never
		// wrapped to this device.
		if n, ok := m.Former[s.dev]; ok && e < v.epochAt(n) {
			if k, ok := s.ring(v.Name).cached(e); ok {
				return k, nil
			}
		}
		return zero, fmt.Errorf("room %q: epoch %d: %w (%w)", v.Name, e, errNoKey, ErrDeviceNotListed)
	}
	top := v.epochAt(m.WrapN)
	if e > top {
		return zero, fmt.Errorf("room %q: epoch %d: %w", v.Name, e, errNoKey)
	}
	ring := s.ring(v.Name)
	ring.mu.Lock()
	defer ring.mu.Unlock()
	if k, ok := ring.keys[e]; ok {
		return k, nil
	}
	k, ok := ring.keys[top]
	if !ok {
		dev := s.dev
		sealed, err := s.st.Wrap(ctx, names.Room(v.Name), m.WrapN, m.WrapTag, names.User(me), dev)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return zero, fmt.Errorf("room %q: my key wrap of commit %d is missing from etcd: %w", v.Name, m.WrapN, ErrTampered)
			}
			return zero, err
		}
		keys, err := s.me.UnwrapKeys(wrapInfo(v.Name, m.WrapN, m.WrapTag, me, dev), sealed)
		if err != nil || len(keys) != 1 {
			return zero, fmt.Errorf("room %q: my key wrap of commit %d does not open: %w", v.Name, m.WrapN, ErrTampered)
		}
		k = keys[0]
		if !bytes.Equal(crypto.KeyCheck(v.Name, top, k), v.Epochs[top-1].KeyCheck) {
			return zero, fmt.Errorf("room %q: my key wrap of commit %d holds a key its commit did not choose: %w", v.Name, m.WrapN, ErrTampered)
		}
		ring.keys[top] = k
	}
	for ep := top; ep > e; ep-- {
		prev, ok := ring.keys[ep-1]
		if !ok {
			var err error
			prev, err = crypto.OpenKeyLink(k, v.Name, ep, v.Epochs[ep-1].KeyLink)
			if err != nil || !bytes.Equal(crypto.KeyCheck(v.Name, ep-1, prev), v.Epochs[ep-2].KeyCheck) {
				return zero, fmt.Errorf("room %q: the key link of epoch %d does not open: %w", v.Name, ep, ErrTampered)
			}
			ring.keys[ep-1] = prev
		}
		k = prev
	}
	return k, nil
}

func (r *keyRing) cached(e uint32) (crypto.RoomKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[e]
	return k, ok
}

func (s *Service) ring(room string) *keyRing {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rings[room]
	if r == nil {
		r = &keyRing{keys: make(map[uint32]crypto.RoomKey)}
		s.rings[room] = r
	}
	return r
}

type memRoomPins struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemRoomPins() *memRoomPins { return &memRoomPins{m: make(map[string][]byte)} }

func (p *memRoomPins) PinnedRooms() ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.m))
	for r := range p.m {
		out = append(out, r)
	}
	return out, nil
}

func (p *memRoomPins) LoadRoom(room string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[room], nil
}

func (p *memRoomPins) SaveRoom(room string, b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[room] = b
	return nil
}

// addsDevices reports whether devs lists every device of m and more.
func addsDevices(m *member, devs []string) bool {
	if len(devs) <= len(m.Devices) {
		return false
	}
	for _, d := range m.Devices {
		if !slices.Contains(devs, d) {
			return false
		}
	}
	return true
}
