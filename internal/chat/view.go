package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
)

// roomView is a room's state after verification: only records whose
// signatures check out and whose signers had the authority to write them
// count. It is immutable once built.
type roomView struct {
	name    string
	kind    string
	creator string
	peers   []string // direct rooms: the two users
	created time.Time

	revision   int64 // etcd revision the state was read at
	versionRev int64 // mod revision of the room version key

	epochs   []*epochInfo // epochs[i] is epoch i+1; the last one is current
	members  []string     // current members, sorted
	pending  []string     // departed during the current epoch: rotation due
	requests []JoinRequest
	denials  map[string]string // user -> denier
	rejected []Rejected

	myWrap *store.Signed[store.Wrap] // my wrap of the newest epoch I belong to

	// rolledBack, if not zero, is the newer epoch this service saw before:
	// the state was rolled back and must not be sent into.
	rolledBack uint32
}

type epochInfo struct {
	epoch     uint32
	author    string
	reason    string
	created   time.Time
	createRev int64
	wraps     map[string]*store.Signed[store.Wrap] // valid wraps by user
	left      map[string]*store.Signed[store.Left] // valid departures by user
}

func (v *roomView) current() *epochInfo {
	if len(v.epochs) == 0 {
		return nil
	}
	return v.epochs[len(v.epochs)-1]
}

func (v *roomView) epoch(e uint32) *epochInfo {
	if e == 0 || int(e) > len(v.epochs) {
		return nil
	}
	return v.epochs[e-1]
}

func (v *roomView) isMember(u string) bool {
	_, ok := slices.BinarySearch(v.members, u)
	return ok
}

func (v *roomView) hasRequest(u string) *JoinRequest {
	for i := range v.requests {
		if v.requests[i].User == u {
			return &v.requests[i]
		}
	}
	return nil
}

// Rejected is a record in etcd that Parley refused to use, with the reason.
type Rejected struct {
	Room     string `json:"room,omitempty"`
	What     string `json:"what"`
	Reason   string `json:"rejected"`
	Revision int64  `json:"revision"`
}

// loadView reads and verifies a room's state and caches the result.
func (s *Service) loadView(ctx context.Context, room string) (*roomView, error) {
	st, err := s.st.RoomState(ctx, room)
	if err != nil {
		return nil, err
	}
	v, err := s.buildView(ctx, st)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.views[room]
	if old != nil && old.current().epoch > v.current().epoch {
		// Epochs never go away; a state that lost one was rolled back by
		// someone with write access to etcd. Keep the newer view.
		v.rolledBack = old.current().epoch
		v.rejected = append(v.rejected, Rejected{Room: room, What: "room state", Reason: fmt.Sprintf("rolled back from key epoch %d to %d", old.current().epoch, v.current().epoch), Revision: v.revision})
		return v, nil
	}
	if old == nil || old.revision <= v.revision {
		s.views[room] = v
	}
	return v, nil
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

func (s *Service) buildView(ctx context.Context, st *store.RoomState) (*roomView, error) {
	if st.Room == nil {
		for _, b := range st.Bad {
			return nil, fmt.Errorf("room %q: %w: its record is rejected: %v", st.Name, ErrNoRoom, b.Err)
		}
		return nil, fmt.Errorf("%w: %q", ErrNoRoom, st.Name)
	}
	rb := st.Room.Body
	v := &roomView{
		name: st.Name, kind: rb.Kind, creator: rb.Creator, peers: rb.Members, created: rb.Created,
		revision: st.Revision, versionRev: st.VersionRev, denials: make(map[string]string),
	}
	reject := func(what string, rev int64, err error) {
		v.rejected = append(v.rejected, Rejected{Room: st.Name, What: what, Reason: err.Error(), Revision: rev})
	}
	for _, b := range st.Bad {
		reject("record", b.Revision, b.Err)
	}

	// Everyone whose key we need, fetched in one round trip.
	want := []string{rb.Creator}
	want = append(want, rb.Members...)
	for _, r := range st.Epochs {
		want = append(want, r.Signer)
	}
	for _, r := range st.Wraps {
		want = append(want, r.Signer, r.Body.User)
	}
	for _, r := range st.Requests {
		want = append(want, r.Signer)
	}
	for _, r := range st.Denials {
		want = append(want, r.Signer)
	}
	for _, r := range st.Left {
		want = append(want, r.Signer)
	}
	users, badUsers, err := s.lookupUsers(ctx, want)
	if err != nil {
		return nil, err
	}
	verify := func(signer string, check func(store.Verifier) error) error {
		p, ok := users[signer]
		if !ok {
			if e, ok := badUsers[signer]; ok {
				return fmt.Errorf("signer %q: %w", signer, e)
			}
			return fmt.Errorf("%w: signer %q", ErrNoUser, signer)
		}
		return check(p)
	}

	if err := verify(rb.Creator, st.Room.Verify); err != nil {
		return nil, fmt.Errorf("room %q: record rejected: %w", st.Name, err)
	}

	// Epochs must be contiguous from 1, each started by the creator (1) or
	// by a member of the epoch before who had not left.
	byEpoch := make(map[uint32]*store.Signed[store.Epoch], len(st.Epochs))
	for _, r := range st.Epochs {
		byEpoch[r.Body.Epoch] = r
	}
	wrapsBy := make(map[uint32][]*store.Signed[store.Wrap])
	for _, w := range st.Wraps {
		wrapsBy[w.Body.Epoch] = append(wrapsBy[w.Body.Epoch], w)
	}
	leftBy := make(map[uint32][]*store.Signed[store.Left])
	for _, l := range st.Left {
		leftBy[l.Body.Epoch] = append(leftBy[l.Body.Epoch], l)
	}
	var e uint32 = 1
	for ; ; e++ {
		rec, ok := byEpoch[e]
		if !ok {
			break
		}
		var prev *epochInfo
		if e > 1 {
			prev = v.epochs[e-2]
		}
		if err := authorOK(v, prev, rec); err != nil {
			reject("epoch "+strconv.Itoa(int(e)), rec.ModRevision, err)
			break
		}
		if err := verify(rec.Signer, rec.Verify); err != nil {
			reject("epoch "+strconv.Itoa(int(e)), rec.ModRevision, err)
			break
		}
		info := &epochInfo{
			epoch: e, author: rec.Signer, reason: rec.Body.Reason, created: rec.Body.Created,
			createRev: rec.CreateRevision,
			wraps:     make(map[string]*store.Signed[store.Wrap]),
			left:      make(map[string]*store.Signed[store.Left]),
		}
		// Wraps count if granted by the epoch's author or by a member
		// whose own wrap counts: iterate to a fixed point.
		cands := wrapsBy[e]
		for changed := true; changed; {
			changed = false
			for i, w := range cands {
				if w == nil {
					continue
				}
				if w.Signer != info.author && info.wraps[w.Signer] == nil {
					continue
				}
				cands[i] = nil
				changed = true
				if v.kind == store.RoomDirect && !slices.Contains(v.peers, w.Body.User) {
					reject("key of "+w.Body.User, w.ModRevision, fmt.Errorf("%w: direct room of %v", ErrDirectRoom, v.peers))
					continue
				}
				if err := verify(w.Signer, w.Verify); err != nil {
					reject("key of "+w.Body.User, w.ModRevision, err)
					continue
				}
				if _, ok := users[w.Body.User]; !ok {
					reject("key of "+w.Body.User, w.ModRevision, fmt.Errorf("%w: %q", ErrNoUser, w.Body.User))
					continue
				}
				info.wraps[w.Body.User] = w
			}
		}
		for _, w := range cands {
			if w != nil {
				reject("key of "+w.Body.User, w.ModRevision, fmt.Errorf("granted by %q, not a member of epoch %d", w.Signer, e))
			}
		}
		if info.wraps[info.author] == nil {
			reject("epoch "+strconv.Itoa(int(e)), rec.ModRevision, fmt.Errorf("its author %q holds no key", info.author))
			break
		}
		for _, l := range leftBy[e] {
			u := l.Body.User
			switch {
			case info.wraps[u] == nil:
				reject("departure of "+u, l.ModRevision, fmt.Errorf("%q was not a member of epoch %d", u, e))
			case l.Signer != u && info.wraps[l.Signer] == nil:
				reject("departure of "+u, l.ModRevision, fmt.Errorf("removed by %q, not a member", l.Signer))
			case l.Signer != u && u == v.creator:
				reject("departure of "+u, l.ModRevision, fmt.Errorf("%w: the room's creator can only leave by themselves", ErrNotAllowed))
			default:
				if err := verify(l.Signer, l.Verify); err != nil {
					reject("departure of "+u, l.ModRevision, err)
					continue
				}
				info.left[u] = l
			}
		}
		v.epochs = append(v.epochs, info)
	}
	for _, r := range st.Epochs {
		if r.Body.Epoch > uint32(len(v.epochs))+1 {
			reject("epoch "+strconv.Itoa(int(r.Body.Epoch)), r.ModRevision, errors.New("follows a missing or rejected epoch"))
		}
	}
	for ep, ws := range wrapsBy {
		if ep > uint32(len(v.epochs)) {
			for _, w := range ws {
				reject("key of "+w.Body.User, w.ModRevision, fmt.Errorf("epoch %d is not valid", ep))
			}
		}
	}
	cur := v.current()
	if cur == nil {
		return nil, fmt.Errorf("room %q has no valid key epoch", st.Name)
	}
	for u := range cur.wraps {
		if cur.left[u] == nil {
			v.members = append(v.members, u)
		} else {
			v.pending = append(v.pending, u)
		}
	}
	slices.Sort(v.members)
	slices.Sort(v.pending)
	for i := len(v.epochs) - 1; i >= 0; i-- {
		if w := v.epochs[i].wraps[s.me.Name()]; w != nil {
			v.myWrap = w
			break
		}
	}
	for _, r := range st.Requests {
		if v.isMember(r.Body.User) {
			continue // approved meanwhile; the request is moot
		}
		if err := verify(r.Signer, r.Verify); err != nil {
			reject("join request of "+r.Body.User, r.ModRevision, err)
			continue
		}
		v.requests = append(v.requests, JoinRequest{Room: v.name, User: r.Body.User, Time: r.Body.Created, Revision: r.ModRevision, rec: r})
	}
	for _, d := range st.Denials {
		if !memberOfAny(v, d.Signer) {
			reject("denial of "+d.Body.User, d.ModRevision, fmt.Errorf("denied by %q, not a member", d.Signer))
			continue
		}
		if err := verify(d.Signer, d.Verify); err != nil {
			reject("denial of "+d.Body.User, d.ModRevision, err)
			continue
		}
		v.denials[d.Body.User] = d.Signer
	}
	return v, nil
}

func authorOK(v *roomView, prev *epochInfo, rec *store.Signed[store.Epoch]) error {
	if prev == nil {
		if rec.Signer != v.creator {
			return fmt.Errorf("first epoch signed by %q, not the creator %q", rec.Signer, v.creator)
		}
		return nil
	}
	if prev.wraps[rec.Signer] == nil {
		return fmt.Errorf("rotated by %q, not a member of epoch %d", rec.Signer, prev.epoch)
	}
	if l := prev.left[rec.Signer]; l != nil && l.CreateRevision < rec.CreateRevision {
		return fmt.Errorf("rotated by %q after they left", rec.Signer)
	}
	return nil
}

func memberOfAny(v *roomView, u string) bool {
	for _, e := range v.epochs {
		if e.wraps[u] != nil {
			return true
		}
	}
	return false
}

// wrapInfo is the HPKE context of a wrap: room, epoch and recipient.
func wrapInfo(room string, epoch uint32, user string) []byte {
	b := make([]byte, 0, len(room)+len(user)+16)
	b = append(b, room...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(epoch), 10)
	b = append(b, 0)
	return append(b, user...)
}

// roomKeys returns the room keys I hold (epochs 1..n), unwrapping my newest
// wrap once and caching it in memory.
func (s *Service) roomKeys(v *roomView) ([]crypto.RoomKey, error) {
	w := v.myWrap
	if w == nil {
		return nil, fmt.Errorf("room %q: %w", v.name, ErrNotMember)
	}
	ck := keyCacheKey{room: v.name, epoch: w.Body.Epoch, rev: w.ModRevision}
	s.mu.Lock()
	keys, ok := s.keys[ck]
	s.mu.Unlock()
	if ok {
		return keys, nil
	}
	keys, err := s.me.UnwrapKeys(wrapInfo(v.name, w.Body.Epoch, s.me.Name()), w.Body.Sealed)
	if err != nil {
		return nil, fmt.Errorf("room %q: open my key of epoch %d (granted by %s): %w", v.name, w.Body.Epoch, w.Signer, err)
	}
	if len(keys) != int(w.Body.Epoch) {
		return nil, fmt.Errorf("room %q: my key wrap of epoch %d holds %d keys", v.name, w.Body.Epoch, len(keys))
	}
	s.mu.Lock()
	s.keys[ck] = keys
	s.mu.Unlock()
	return keys, nil
}
