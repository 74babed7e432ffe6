package chat

// This file holds the membership promise: who is in a room at every point
// of its history follows only from a hash chain of signed commits, each
// signed by a member of the roster it follows. Nothing etcd chooses
// (revisions, timestamps, key order) decides membership or authorship.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
)

// roomState is a room's membership as verified from its chain, up to commit
// N. It is what a client pins in its home (JSON), so its fields are
// exported; the type is not. A state is never changed in place once shared:
// apply works on a clone.
type roomState struct {
	Name       string    `json:"room"`
	Kind       string    `json:"kind"`
	Creator    string    `json:"creator"`
	Peers      []string  `json:"peers,omitempty"`
	Created    time.Time `json:"created"`
	RoomDigest []byte    `json:"room_digest"`

	// N is the newest verified commit, Digest its digest. Prefixes holds
	// the first 16 bytes of every commit's digest, commit 1 first: a
	// message names its commit by number and prefix.
	N        uint64 `json:"n"`
	Digest   []byte `json:"digest"`
	Prefixes []byte `json:"prefixes"`

	Epoch   uint32     `json:"epoch"`
	Epochs  []epochRec `json:"epochs"` // Epochs[i] is epoch i+1
	Retired bool       `json:"retired,omitempty"`
	Closed  bool       `json:"closed,omitempty"`
	// Disappear is how long messages sent now live, in seconds (0: for
	// good); DisappearSince the commit that set it.
	Disappear      int64  `json:"disappear,omitempty"`
	DisappearSince uint64 `json:"disappear_since,omitempty"`

	// Members holds everyone who was ever a member, with their spans.
	Members map[string]*member `json:"members"`
	Count   int                `json:"count"`
	// RosterSum is the running sum (mod 2^256) of the current roster's
	// entry hashes: the roster digest is derived from it in O(1).
	RosterSum []byte `json:"roster_sum"`
	// Denied maps a user to the digest of their last denied request, and
	// DeniedBy to who denied it.
	Denied   map[string][]byte `json:"denied,omitempty"`
	DeniedBy map[string]string `json:"denied_by,omitempty"`

	// Last describes commit N, for notices.
	Last commitNote `json:"last"`
}

// epochRec is one key epoch: the commit that started it, the commitment to
// its key and the link that seals the previous epoch's key under it.
type epochRec struct {
	Commit   uint64    `json:"commit"`
	KeyCheck []byte    `json:"key_check"`
	KeyLink  []byte    `json:"key_link,omitempty"`
	Author   string    `json:"author"`
	Reason   string    `json:"reason,omitempty"`
	Time     time.Time `json:"time"`
}

// member is one user's history in a room.
type member struct {
	Key     string   `json:"key"`     // identity fingerprint admitted
	Devices []string `json:"devices"` // device ids holding wraps, the identity's first
	// Former maps a device dropped from the entry to the commit that
	// dropped it: it spoke for the user under earlier commits only.
	Former map[string]uint64 `json:"former,omitempty"`
	// OldKeys are the identities admitted before Key, each until the
	// commit that admitted the next (rekey commits).
	OldKeys []oldKey `json:"old_keys,omitempty"`
	Spans   []span   `json:"spans"`
	// WrapN and WrapTag locate the user's newest wrap.
	WrapN   uint64 `json:"wrap_n"`
	WrapTag string `json:"wrap_tag"`
}

// oldKey is an identity a member had until commit Until.
type oldKey struct {
	Key   string `json:"key"`
	Until uint64 `json:"until"`
}

// keyAt returns the fingerprint of the identity m had at commit n.
func (m *member) keyAt(n uint64) string {
	for _, k := range m.OldKeys {
		if n < k.Until {
			return k.Key
		}
	}
	return m.Key
}

// span is one stretch of membership: from the commit that added the user
// to the commit that ended it (0 while it lasts).
type span struct {
	From  uint64    `json:"from"`
	To    uint64    `json:"to,omitempty"`
	By    string    `json:"by"`
	Since time.Time `json:"since"`
	// How ends the span: "left", "removed".
	How    string `json:"how,omitempty"`
	EndBy  string `json:"end_by,omitempty"`
	Head   uint64 `json:"head,omitempty"`
	HasEnd bool   `json:"has_head,omitempty"` // Head is known
	// HeadDevice is the device whose chain Head counts ("" the identity's).
	HeadDevice string `json:"head_device,omitempty"`
}

// commitNote describes one commit for notices.
type commitNote struct {
	N      uint64    `json:"n"`
	Op     string    `json:"op"`
	Signer string    `json:"signer"`
	Users  []string  `json:"users,omitempty"`
	Epoch  uint32    `json:"epoch"`
	Time   time.Time `json:"time"`
}

func (st *roomState) current(u string) *span {
	m := st.Members[u]
	if m == nil || len(m.Spans) == 0 {
		return nil
	}
	sp := &m.Spans[len(m.Spans)-1]
	if sp.To != 0 {
		return nil
	}
	return sp
}

func (st *roomState) isMember(u string) bool { return st.current(u) != nil }

// spanAt returns u's span that contains commit n, or nil.
func (st *roomState) spanAt(u string, n uint64) *span {
	m := st.Members[u]
	if m == nil {
		return nil
	}
	for i := range m.Spans {
		sp := &m.Spans[i]
		if sp.From <= n && (sp.To == 0 || n < sp.To) {
			return sp
		}
	}
	return nil
}

// roster returns the current members, sorted.
func (st *roomState) roster() []string {
	out := make([]string, 0, st.Count)
	for u := range st.Members {
		if st.isMember(u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// epochAt returns the epoch in force at commit n.
func (st *roomState) epochAt(n uint64) uint32 {
	i := sort.Search(len(st.Epochs), func(i int) bool { return st.Epochs[i].Commit > n })
	return uint32(i)
}

// prefix returns the digest prefix of commit n, or nil if unknown.
func (st *roomState) prefix(n uint64) []byte {
	if n == 0 || n > st.N || int(n*16) > len(st.Prefixes) {
		return nil
	}
	return st.Prefixes[(n-1)*16 : n*16]
}

func (st *roomState) clone() *roomState {
	c := *st
	c.Peers = slices.Clone(st.Peers)
	c.Prefixes = slices.Clone(st.Prefixes)
	c.Epochs = slices.Clone(st.Epochs)
	c.RosterSum = slices.Clone(st.RosterSum)
	c.Members = make(map[string]*member, len(st.Members))
	for u, m := range st.Members {
		mc := *m
		mc.Devices = slices.Clone(m.Devices)
		if m.Former != nil {
			mc.Former = make(map[string]uint64, len(m.Former))
			for d, n := range m.Former {
				mc.Former[d] = n
			}
		}
		mc.Spans = slices.Clone(m.Spans)
		mc.OldKeys = slices.Clone(m.OldKeys)
		c.Members[u] = &mc
	}
	c.Denied = make(map[string][]byte, len(st.Denied))
	for u, d := range st.Denied {
		c.Denied[u] = d
	}
	c.DeniedBy = make(map[string]string, len(st.DeniedBy))
	for u, d := range st.DeniedBy {
		c.DeniedBy[u] = d
	}
	return &c
}

// newRoomState starts the state of a room from its verified record.
func newRoomState(rec *store.Signed[store.Room]) *roomState {
	b := rec.Body
	return &roomState{
		Name: b.Name, Kind: b.Kind, Creator: b.Creator, Peers: slices.Clone(b.Members), Created: b.Created,
		RoomDigest: rec.Digest(), Members: make(map[string]*member), RosterSum: make([]byte, 32),
		Denied: make(map[string][]byte), DeniedBy: make(map[string]string),
	}
}

// entryHash is one roster entry's contribution to the roster digest.
func entryHash(user, key string, devices []string) *big.Int {
	h := sha256.New()
	w := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	w("parley/v2/roster-entry")
	w(user)
	w(key)
	for _, d := range devices {
		w(d)
	}
	return new(big.Int).SetBytes(h.Sum(nil))
}

var mod256 = new(big.Int).Lsh(big.NewInt(1), 256)

func (st *roomState) addToSum(user, key string, devices []string, sign int) {
	s := new(big.Int).SetBytes(st.RosterSum)
	e := entryHash(user, key, devices)
	if sign > 0 {
		s.Add(s, e)
	} else {
		s.Sub(s, e)
	}
	s.Mod(s, mod256)
	st.RosterSum = s.FillBytes(make([]byte, 32))
}

// rosterDigest is what a commit's Roster field must hold: SHA-256 over a
// label, the roster size and the sum of its entries' hashes. The sum keeps
// it O(1) per change in rooms of any size; the commits' signed deltas, not
// the digest, carry the authority, and the digest lets every reader check
// that its replay agrees with the signer's.
func (st *roomState) rosterDigest() []byte {
	h := sha256.New()
	h.Write([]byte("parley/v2/roster\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(st.Count))
	h.Write(n[:])
	h.Write(st.RosterSum)
	return h.Sum(nil)
}

// maxDisappear is the longest a disappearing message may live: a year.
const maxDisappear = 366 * 24 * 3600

// errChain is wrapped by every reason a commit does not count.
var errChain = errors.New("membership commit rejected")

// errUnverifiable means a commit could not be checked because its signer's
// key could not be had: it does not count, but it is not shown invalid.
var errUnverifiable = errors.New("membership commit cannot be verified")

// keyOf returns the verified key of device dev ("" for the identity key)
// of a user whose identity's fingerprint must be fp ("" accepts any, for
// the room's creator on commit 1).
type keyOf func(user, fp, dev string) (*crypto.PublicIdentity, error)

// apply verifies commit rec as the next link of st and changes st to the
// state after it. A commit counts only if it extends the chain (number and
// previous digest), is signed by a current member with the key the room
// admitted, and its operation is one that member may perform. If apply
// fails, st may be half changed: callers apply to a clone (one per batch
// of commits, not per commit, which would cost O(members) each) and throw
// it away on failure.
func (st *roomState) apply(rec *store.Signed[store.Commit], key keyOf) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("commit %d of %q: %w: %s", rec.Body.N, st.Name, errChain, fmt.Sprintf(format, args...))
	}
	if err := rec.Malformed(); err != nil {
		return fail("%v", err)
	}
	if st.Kind == "" {
		return fail("the room record is missing")
	}
	c := rec.Body
	switch {
	case c.Room != st.Name:
		return fail("it belongs to room %q", c.Room)
	case c.N != st.N+1:
		return fail("expected commit %d", st.N+1)
	case st.N == 0 && len(c.Prev) != 0, st.N > 0 && !bytes.Equal(c.Prev, st.Digest):
		return fail("it does not follow commit %d (another chain)", st.N)
	case st.Closed:
		return fail("the room was closed at commit %d", st.N)
	}
	signer := rec.Signer
	var fp string
	if c.N == 1 {
		if c.Op != store.OpCreate || signer != st.Creator {
			return fail("the first commit must be the creation, by %s", st.Creator)
		}
		if c.Device != "" && !slices.ContainsFunc(c.Users, func(e store.Entry) bool {
			return e.User == signer && len(e.Devices) > 1 && slices.Contains(e.Devices[1:], c.Device)
		}) {
			return fail("signed by a device the creation does not list")
		}
		// The creator's identity then (it may have been rotated since).
		for _, e := range c.Users {
			if e.User == signer {
				fp = e.Key
			}
		}
	} else {
		if !st.isMember(signer) {
			return fail("signed by %s, who is not a member at commit %d", signer, st.N)
		}
		m := st.Members[signer]
		fp = m.Key
		if c.Device != "" && !slices.Contains(m.Devices[1:], c.Device) {
			return fail("signed by device %s of %s, which the room does not list", c.Device, signer)
		}
	}
	p, err := key(signer, fp, c.Device)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		// The commit may be sound: its signer's key is what is missing.
		return fmt.Errorf("commit %d of %q: %w: signer %s: %w", c.N, st.Name, errUnverifiable, signer, err)
	}
	if err := rec.Verify(p); err != nil {
		return fail("%v", err)
	}

	// Every check of st below happens before the change it guards.
	nx := st
	newEpoch := false
	seen := make(map[string]bool, len(c.Users))
	for _, e := range c.Users {
		if seen[e.User] {
			return fail("it names %s twice", e.User)
		}
		seen[e.User] = true
	}
	// checkDevices checks the certificates of the devices of an entry
	// that are not the identity's own.
	checkDevices := func(e store.Entry, devs []string) error {
		for _, d := range devs {
			if _, err := key(e.User, e.Key, d); err != nil {
				if errors.Is(err, store.ErrUnavailable) {
					return err
				}
				return fmt.Errorf("device %s of %s: %w", d, e.User, err)
			}
		}
		return nil
	}
	addUser := func(e store.Entry) error {
		if e.Key == "" || len(e.Devices) == 0 {
			return fmt.Errorf("%s is added without a key or device", e.User)
		}
		if err := checkDeviceList(e.Devices); err != nil {
			return fmt.Errorf("%s: %v", e.User, err)
		}
		if err := checkDevices(e, e.Devices[1:]); err != nil {
			return err
		}
		if nx.isMember(e.User) {
			return fmt.Errorf("%s is already a member", e.User)
		}
		m := nx.Members[e.User]
		if m == nil {
			m = &member{}
			nx.Members[e.User] = m
		}
		m.Key, m.Devices = e.Key, slices.Clone(e.Devices)
		m.Spans = append(m.Spans, span{From: c.N, By: signer, Since: c.Time})
		m.WrapN, m.WrapTag = c.N, c.WrapTag
		nx.Count++
		nx.addToSum(e.User, e.Key, e.Devices, +1)
		delete(nx.Denied, e.User)
		delete(nx.DeniedBy, e.User)
		return nil
	}
	endUser := func(u, how string) error {
		sp := nx.current(u)
		if sp == nil {
			return fmt.Errorf("%s is not a member", u)
		}
		sp.To, sp.How, sp.EndBy = c.N, how, signer
		for _, h := range c.Heads {
			if h.User == u {
				sp.Head, sp.HasEnd, sp.HeadDevice = h.Seq, true, h.Device
			}
		}
		m := nx.Members[u]
		nx.Count--
		nx.addToSum(u, m.Key, m.Devices, -1)
		return nil
	}
	wrapsFor := 0 // wraps the commit must have written
	switch c.Op {
	case store.OpCreate:
		want := []string{st.Creator}
		if st.Kind == store.RoomDirect {
			want = st.Peers
		}
		if len(c.Users) != len(want) {
			return fail("creation must admit %v", want)
		}
		for i, e := range c.Users {
			if e.User != want[i] {
				return fail("creation must admit %v", want)
			}
			if e.User == signer {
				idp := p
				if c.Device != "" {
					if idp, err = key(signer, "", ""); err != nil {
						return fail("%v", err)
					}
				}
				if e.Key != idp.Fingerprint() {
					return fail("the creator's entry names another key")
				}
			}
			if err := addUser(e); err != nil {
				return fail("%v", err)
			}
			wrapsFor += len(e.Devices)
		}
		newEpoch = true
	case store.OpAdd:
		if st.Kind != store.RoomGroup {
			return fail("nobody joins a direct room")
		}
		if len(c.Users) == 0 {
			return fail("adds nobody")
		}
		for _, e := range c.Users {
			if len(e.Request) == 0 {
				return fail("adds %s without a join request", e.User)
			}
			if err := addUser(e); err != nil {
				return fail("%v", err)
			}
			wrapsFor += len(e.Devices)
		}
	case store.OpDeny:
		if len(c.Users) == 0 {
			return fail("denies nobody")
		}
		for _, e := range c.Users {
			if nx.isMember(e.User) || len(e.Request) == 0 {
				return fail("denies %s, who is a member or made no request", e.User)
			}
			nx.Denied[e.User] = slices.Clone(e.Request)
			nx.DeniedBy[e.User] = signer
		}
	case store.OpRemove:
		if st.Kind != store.RoomGroup {
			return fail("nobody is removed from a direct room")
		}
		if len(c.Users) == 0 {
			return fail("removes nobody")
		}
		for _, e := range c.Users {
			switch e.User {
			case signer:
				return fail("%s removes themselves: that is a leave", signer)
			case st.Creator:
				return fail("the room's creator can only leave by themselves")
			}
			if err := endUser(e.User, "removed"); err != nil {
				return fail("%v", err)
			}
		}
		newEpoch = true
	case store.OpLeave:
		if st.Kind != store.RoomGroup {
			return fail("direct rooms are not left")
		}
		if len(c.Users) != 1 || c.Users[0].User != signer {
			return fail("a leave is signed by the one who leaves")
		}
		if len(c.Heads) != 1 || c.Heads[0].User != signer {
			return fail("a leave names the leaver's last message")
		}
		if err := endUser(signer, "left"); err != nil {
			return fail("%v", err)
		}
		if nx.Count == 0 {
			return fail("the last member closes the room instead")
		}
	case store.OpRotate:
		if len(c.Users) != 0 {
			return fail("a rotation changes no members")
		}
		newEpoch = true
	case store.OpPolicy:
		if len(c.Users) != 0 {
			return fail("a setting changes no members")
		}
		if c.Disappear < 0 || c.Disappear > maxDisappear {
			return fail("messages cannot disappear after %d s", c.Disappear)
		}
		nx.Disappear, nx.DisappearSince = c.Disappear, c.N
	case store.OpDevices:
		if len(c.Users) == 0 {
			return fail("changes nobody's devices")
		}
		for _, e := range c.Users {
			m := nx.Members[e.User]
			if !nx.isMember(e.User) {
				return fail("changes the devices of %s, who is not a member", e.User)
			}
			if e.Key != m.Key {
				return fail("changes the identity of %s", e.User)
			}
			// The user changes their devices; another member only adds
			// one the user asked for (a device recovered with the
			// user's recovery code, certified by it).
			if e.User != signer && len(e.Request) == 0 {
				return fail("only %s changes their devices", e.User)
			}
			if err := checkDeviceList(e.Devices); err != nil {
				return fail("%s: %v", e.User, err)
			}
			if e.Devices[0] != m.Devices[0] {
				return fail("replaces the identity's device of %s", e.User)
			}
			var added, dropped []string
			for _, d := range e.Devices {
				if !slices.Contains(m.Devices, d) {
					added = append(added, d)
				}
			}
			for _, d := range m.Devices {
				if !slices.Contains(e.Devices, d) {
					dropped = append(dropped, d)
				}
			}
			if len(added)+len(dropped) == 0 {
				return fail("changes nothing of %s", e.User)
			}
			if e.User != signer {
				if len(dropped) > 0 {
					return fail("drops devices of %s, which only they do", e.User)
				}
				for _, d := range added {
					if _, ok := m.Former[d]; ok {
						return fail("lists again device %s of %s, which they dropped", d, e.User)
					}
				}
			}
			if err := checkDevices(e, added); err != nil {
				if errors.Is(err, store.ErrUnavailable) {
					return err
				}
				return fail("%v", err)
			}
			if len(dropped) > 0 {
				newEpoch = true
				if m.Former == nil {
					m.Former = make(map[string]uint64)
				}
				for _, d := range dropped {
					m.Former[d] = c.N
				}
			}
			for _, d := range added {
				delete(m.Former, d)
			}
			nx.addToSum(e.User, m.Key, m.Devices, -1)
			m.Devices = slices.Clone(e.Devices)
			nx.addToSum(e.User, m.Key, m.Devices, +1)
			m.WrapN, m.WrapTag = c.N, c.WrapTag
			wrapsFor += len(e.Devices)
		}
	case store.OpRekey:
		// The member's current identity (which signed this commit)
		// admits its successor: their identity chain's next key.
		if len(c.Users) != 1 || c.Users[0].User != signer {
			return fail("a rekey is signed by the one whose identity changes")
		}
		e := c.Users[0]
		m := nx.Members[signer]
		if e.Key == m.Key || e.Key == "" {
			return fail("a rekey names a new identity")
		}
		np, err := key(signer, e.Key, "")
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) {
				return err
			}
			return fail("the new identity of %s: %v", signer, err)
		}
		if err := checkDeviceList(e.Devices); err != nil {
			return fail("%s: %v", signer, err)
		}
		if e.Devices[0] != deviceID(np) {
			return fail("the new identity's own device is not listed first")
		}
		if err := checkDevices(e, e.Devices[1:]); err != nil {
			if errors.Is(err, store.ErrUnavailable) {
				return err
			}
			return fail("%v", err)
		}
		if m.Former == nil {
			m.Former = make(map[string]uint64)
		}
		for _, d := range m.Devices {
			if !slices.Contains(e.Devices, d) {
				m.Former[d] = c.N
			}
		}
		nx.addToSum(signer, m.Key, m.Devices, -1)
		m.OldKeys = append(m.OldKeys, oldKey{Key: m.Key, Until: c.N})
		m.Key, m.Devices = e.Key, slices.Clone(e.Devices)
		nx.addToSum(signer, m.Key, m.Devices, +1)
		newEpoch = true
	case store.OpClose:
		if st.Kind != store.RoomGroup || st.Count != 1 || !st.isMember(signer) {
			return fail("only the last member closes a group room")
		}
		if err := endUser(signer, "left"); err != nil {
			return fail("%v", err)
		}
		nx.Closed = true
	default:
		return fail("unknown operation %q", c.Op)
	}
	if c.Op != store.OpPolicy && c.Disappear != 0 {
		return fail("only a policy commit changes how long messages live")
	}

	if newEpoch {
		if c.Epoch != st.Epoch+1 || len(c.KeyCheck) != crypto.KeyCheckSize {
			return fail("a new key must start epoch %d with a key check", st.Epoch+1)
		}
		if (st.Epoch == 0) != (len(c.KeyLink) == 0) {
			return fail("a new epoch links the previous key (and only then)")
		}
		if c.WrapTag == "" || c.Retired {
			return fail("a new epoch wraps its key to the roster")
		}
		nx.Epoch = c.Epoch
		nx.Epochs = append(nx.Epochs, epochRec{Commit: c.N, KeyCheck: slices.Clone(c.KeyCheck), KeyLink: slices.Clone(c.KeyLink), Author: signer, Reason: c.Op, Time: c.Time})
		nx.Retired = false
		wrapsFor = 0
		for _, u := range nx.roster() {
			m := nx.Members[u]
			m.WrapN, m.WrapTag = c.N, c.WrapTag
			wrapsFor += len(m.Devices)
		}
	} else {
		if c.Epoch != st.Epoch || !bytes.Equal(c.KeyCheck, st.Epochs[len(st.Epochs)-1].KeyCheck) || len(c.KeyLink) != 0 {
			return fail("a %s keeps epoch %d and its key", c.Op, st.Epoch)
		}
		want := st.Retired || c.Op == store.OpLeave
		if c.Op == store.OpClose {
			want = c.Retired
		}
		if c.Retired != want {
			return fail("the key's retirement is misstated")
		}
		nx.Retired = want
	}
	if wrapsFor > 0 && (c.WrapTag == "" || c.Wraps != wrapsFor) {
		return fail("it has %d wraps under %q, its roster needs %d", c.Wraps, c.WrapTag, wrapsFor)
	}
	if wrapsFor == 0 && (c.WrapTag != "" || c.Wraps != 0) && c.Op != store.OpClose {
		return fail("it names wraps it does not need")
	}
	if c.Count != nx.Count || !bytes.Equal(c.Roster, nx.rosterDigest()) {
		return fail("its roster (%d members, %s) is not the one its changes give (%d, %s)", c.Count, short(c.Roster), nx.Count, short(nx.rosterDigest()))
	}
	d := rec.Digest()
	nx.N, nx.Digest = c.N, d
	nx.Prefixes = append(nx.Prefixes, d[:16]...)
	users := make([]string, 0, len(c.Users))
	for _, e := range c.Users {
		users = append(users, e.User)
	}
	nx.Last = commitNote{N: c.N, Op: c.Op, Signer: signer, Users: users, Epoch: c.Epoch, Time: c.Time}
	return nil
}

func short(b []byte) string {
	if len(b) > 6 {
		b = b[:6]
	}
	return hex.EncodeToString(b)
}
