package chat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// RequestJoin asks to join a group room. Members see the request and one of
// them approves or denies it. Asking again while a request is pending is
// not an error.
func (s *Service) RequestJoin(ctx context.Context, room names.Room) error {
	name := string(room)
	v, err := s.loadView(ctx, name)
	if err != nil {
		return fmt.Errorf("join %q: %w", name, err)
	}
	me := s.me.Name()
	switch {
	case v.Kind == store.RoomDirect:
		return fmt.Errorf("join %q: %w", name, ErrDirectRoom)
	case v.Closed:
		return fmt.Errorf("join %q: %w", name, ErrClosed)
	case v.isMember(me):
		return fmt.Errorf("join %q: %w", name, ErrAlreadyMember)
	case v.hasRequest(me) != nil:
		return nil
	}
	if d := v.Denied[me]; d != nil {
		// A new request replaces the denied one (its digest differs).
		_ = s.st.DeleteRequest(ctx, names.Room(name), names.User(me))
	}
	req := store.Request{User: me, Key: s.root.Fingerprint(), Created: s.now().UTC(), Device: s.signingDevice()}
	// The room's key is to be wrapped to every device I have.
	devs, err := s.deviceSet(ctx, me)
	if err != nil {
		return fmt.Errorf("join %q: %w", name, err)
	}
	if len(devs) > 1 {
		req.Devices = devs
	}
	err = s.st.PutRequest(ctx, s.me, names.Room(name), req)
	if errors.Is(err, store.ErrExists) {
		return nil // filed meanwhile (a retry, or another of my processes)
	}
	if err != nil {
		return fmt.Errorf("join %q: %w", name, err)
	}
	return nil
}

// CancelJoin withdraws my pending join request.
func (s *Service) CancelJoin(ctx context.Context, room names.Room) error {
	name := string(room)
	return s.st.DeleteRequest(ctx, names.Room(name), s.user)
}

// JoinStatus is where my membership of a room stands.
type JoinStatus int

// Join statuses.
const (
	JoinNone     JoinStatus = iota // no request
	JoinPending                    // request waiting for a member
	JoinApproved                   // I am a member
	JoinDenied                     // a member denied my request
)

// Approval reports the outcome of a join request.
type Approval struct {
	Status JoinStatus
	By     string // the member who approved or denied
}

func (s *Service) joinStatus(v *roomView) Approval {
	me := s.me.Name()
	switch {
	case v.isMember(me):
		return Approval{Status: JoinApproved, By: v.current(me).By}
	case v.hasRequest(me) != nil:
		return Approval{Status: JoinPending}
	case v.Denied[me] != nil:
		return Approval{Status: JoinDenied, By: v.DeniedBy[me]}
	}
	return Approval{Status: JoinNone}
}

// WaitApproval blocks until my request to join room is approved (nil) or
// denied (ErrDenied), or ctx ends. It watches the room; it does not poll.
func (s *Service) WaitApproval(ctx context.Context, room names.Room) (Approval, error) {
	name := string(room)
	for {
		v, err := s.loadView(ctx, name)
		if err != nil {
			return Approval{}, err
		}
		a := s.joinStatus(v)
		switch a.Status {
		case JoinApproved:
			return a, nil
		case JoinDenied:
			return a, fmt.Errorf("join %q: %w by %s", name, ErrDenied, a.By)
		case JoinNone:
			return a, fmt.Errorf("join %q: %w", name, ErrNoRequest)
		}
		wctx, cancel := context.WithCancel(ctx)
		ch, err := s.st.WatchRoom(wctx, names.Room(name), v.revision+1)
		if err != nil {
			cancel()
			return Approval{}, err
		}
		changed := false
		for ev := range ch {
			if ev.StateChanged || ev.Compacted {
				changed = true
				break
			}
		}
		cancel()
		for range ch {
		}
		if !changed {
			if err := ctx.Err(); err != nil {
				return Approval{Status: JoinPending}, err
			}
		}
	}
}

// Requests lists a room's pending join requests.
func (s *Service) Requests(ctx context.Context, room names.Room) ([]JoinRequest, error) {
	name := string(room)
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.requests), nil
}

// CommitStats reports what a membership change cost: the commit it made,
// the bytes it wrote to etcd and in how many transactions.
type CommitStats struct {
	Commit       uint64 `json:"commit"`
	BytesWritten int    `json:"bytes_written"`
	Transactions int    `json:"transactions"`
	Wraps        int    `json:"wraps"`
}

// Approve admits user to room: it gives the newcomer the room's current
// key, from which they derive every older one, so they read the whole
// history. Any member may approve. If two members approve at once, one
// succeeds and the other gets ErrAlreadyMember.
func (s *Service) Approve(ctx context.Context, room names.Room, user string) error {
	_, err := s.ApproveUsers(ctx, room, []string{user})
	return err
}

// ApproveUsers admits several users whose requests are pending, in one
// commit (at most MaxBatchUsers).
func (s *Service) ApproveUsers(ctx context.Context, room names.Room, users []string) (CommitStats, error) {
	name := string(room)
	us, err := canonicalUsers(users)
	if err != nil {
		return CommitStats{}, err
	}
	me := s.me.Name()
	attempted := false
	return s.commit(ctx, name, "approve "+joinNames(us), func(v *roomView) (*plan, error) {
		p := &plan{op: store.OpAdd}
		if len(us) == 1 && v.isMember(us[0]) {
			// A member's new device, recovered with their recovery code.
			if req := v.hasRequest(us[0]); req != nil && req.NewDevice {
				p.op = store.OpDevices
				p.devices = []store.Entry{{User: us[0], Key: v.Members[us[0]].Key, Devices: req.devices, Request: req.rec.Digest()}}
				p.requests = []*store.Signed[store.Request]{req.rec}
				p.relist = us
				attempted = true
				return p, nil
			}
		}
		if v.Kind == store.RoomDirect {
			return nil, ErrDirectRoom
		}
		for _, u := range us {
			if v.isMember(u) {
				by := v.current(u).By
				if attempted && by == me && len(us) == 1 {
					return nil, errDone // my own earlier attempt went through
				}
				return nil, fmt.Errorf("%w (approved by %s)", ErrAlreadyMember, by)
			}
			req := v.hasRequest(u)
			if req == nil {
				return nil, fmt.Errorf("%s: %w", u, ErrNoRequest)
			}
			p.add = append(p.add, store.Entry{User: u, Key: req.pub.Fingerprint(), Devices: req.devices, Request: req.rec.Digest()})
			p.requests = append(p.requests, req.rec)
		}
		attempted = true
		return p, nil
	})
}

// MaxBatchUsers is the most users one commit admits or removes: an
// admission writes a wrap, a room-list hint and deletes a request for each,
// within etcd's default of 128 operations per transaction.
const MaxBatchUsers = 40

func canonicalUsers(users []string) ([]string, error) {
	if len(users) == 0 || len(users) > MaxBatchUsers {
		return nil, fmt.Errorf("%d users: give 1 to %d", len(users), MaxBatchUsers)
	}
	out := make([]string, 0, len(users))
	for _, u := range users {
		cu, err := names.ParseUser(u)
		if err != nil {
			return nil, err
		}
		c := string(cu)
		if slices.Contains(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Deny refuses user's pending request to join room.
func (s *Service) Deny(ctx context.Context, room names.Room, user string) error {
	name := string(room)
	pu, err := names.ParseUser(user)
	if err != nil {
		return err
	}
	u := string(pu)
	_, err = s.commit(ctx, name, "deny "+u, func(v *roomView) (*plan, error) {
		req := v.hasRequest(u)
		if req == nil {
			if v.isMember(u) {
				return nil, ErrAlreadyMember
			}
			if v.Denied[u] != nil {
				return nil, errDone
			}
			return nil, ErrNoRequest
		}
		return &plan{op: store.OpDeny, deny: []store.Entry{{User: u, Request: req.rec.Digest()}}, requests: []*store.Signed[store.Request]{req.rec}}, nil
	})
	return err
}

// LeaveOptions qualify Leave.
type LeaveOptions struct {
	// Delete lets the last member of a group room leave; the room is then
	// closed for good, and reported so.
	Delete bool
}

// Leave ends my membership of room. My leave retires the room key; the
// remaining members' clients rotate it at once (a running client on seeing
// the leave, any other before its next send or approval), so I cannot read
// what is sent afterwards. The last member of a group room must say
// Delete. A direct room cannot be left (it is hidden instead, by the front
// ends): ErrDirectRoom.
func (s *Service) Leave(ctx context.Context, room names.Room, opts LeaveOptions) error {
	name := string(room)
	me := s.me.Name()
	_, err := s.commit(ctx, name, "leave", func(v *roomView) (*plan, error) {
		if v.Kind == store.RoomDirect {
			return nil, fmt.Errorf("%w: a direct room stays open for both; hide it instead", ErrDirectRoom)
		}
		if v.Count == 1 {
			if !opts.Delete {
				return nil, ErrLastMember
			}
			return &plan{op: store.OpClose, end: []string{me}}, nil
		}
		head, ok, err := s.heads.Head(v.Name)
		if err != nil {
			return nil, err
		}
		if !ok {
			// A home that never sent here (a new machine): my last
			// message is in etcd, or I sent none.
			if head, err = s.recoverHead(ctx, v); err != nil {
				return nil, err
			}
		}
		return &plan{op: store.OpLeave, end: []string{me}, heads: []store.Head{{User: me, Seq: head.Seq, Device: s.signingDevice()}}}, nil
	})
	return err
}

// Remove ends user's membership of room and rotates the room key in the
// same commit, so they cannot read what is sent afterwards. Any member may
// remove any other member except the room's creator.
func (s *Service) Remove(ctx context.Context, room names.Room, user string) error {
	_, err := s.RemoveUsers(ctx, room, []string{user})
	return err
}

// RemoveUsers removes several members in one commit with one rotation.
func (s *Service) RemoveUsers(ctx context.Context, room names.Room, users []string) (CommitStats, error) {
	name := string(room)
	us, err := canonicalUsers(users)
	if err != nil {
		return CommitStats{}, err
	}
	if len(us) == 1 && us[0] == s.me.Name() {
		return CommitStats{}, s.Leave(ctx, room, LeaveOptions{})
	}
	// The removal records each removed user's last message as far as I
	// know it; a look at the newest messages learns it if I saw none.
	for _, u := range us {
		if s.knownHead(name, u) == nil {
			if _, err := s.readPages(ctx, name, "", 0, 500, nil); err != nil && errors.Is(err, store.ErrUnavailable) {
				return CommitStats{}, fmt.Errorf("remove %s in %q: %w", joinNames(us), name, err)
			}
			break
		}
	}
	return s.commit(ctx, name, "remove "+joinNames(us), func(v *roomView) (*plan, error) {
		if v.Kind == store.RoomDirect {
			return nil, fmt.Errorf("%w: nobody is removed from a direct room", ErrNotAllowed)
		}
		p := &plan{op: store.OpRemove}
		for _, u := range us {
			switch {
			case u == s.me.Name():
				return nil, fmt.Errorf("%w: leave instead of removing yourself along with others", ErrNotAllowed)
			case !v.isMember(u):
				if sp := lastSpan(v.roomState, u); sp != nil && sp.To != 0 && len(us) == 1 {
					return nil, errDone
				}
				return nil, fmt.Errorf("%s: %w", u, ErrNotMember)
			case u == v.Creator:
				return nil, fmt.Errorf("%w: the room's creator can only leave by themselves", ErrNotAllowed)
			}
			p.end = append(p.end, u)
			p.heads = append(p.heads, s.knownHead(v.Name, u)...)
		}
		return p, nil
	})
}

func lastSpan(st *roomState, u string) *span {
	m := st.Members[u]
	if m == nil || len(m.Spans) == 0 {
		return nil
	}
	return &m.Spans[len(m.Spans)-1]
}

// Rotate starts a new key epoch for the same members.
func (s *Service) Rotate(ctx context.Context, room names.Room) (CommitStats, error) {
	name := string(room)
	return s.commit(ctx, name, "rotate", func(v *roomView) (*plan, error) {
		return &plan{op: store.OpRotate}, nil
	})
}

// SetDisappear makes messages sent into room from now on disappear after
// d (0: they stay). The setting is a signed commit every member sees; the
// cluster itself deletes each message on time (an etcd lease).
func (s *Service) SetDisappear(ctx context.Context, room names.Room, d time.Duration) error {
	name := string(room)
	secs := int64(d / time.Second)
	if d < 0 || secs > maxDisappear || (d > 0 && secs < 1) {
		return fmt.Errorf("disappearing messages: %v: give a duration from 1s to a year, or 0 to keep messages", d)
	}
	_, err := s.commit(ctx, name, "set disappearing messages", func(v *roomView) (*plan, error) {
		if v.Disappear == secs {
			return nil, errDone
		}
		return &plan{op: store.OpPolicy, disappear: secs}, nil
	})
	return err
}

// plan is a membership change before it becomes a commit.
type plan struct {
	disappear int64 // OpPolicy
	op        string
	add       []store.Entry          // users admitted
	devices   []store.Entry          // members whose devices change (OpDevices)
	relist    []string               // members whose room-list hint a device request changed
	rekey     *crypto.PublicIdentity // OpRekey: my new identity
	deny      []store.Entry
	end       []string // users leaving or removed
	heads     []store.Head
	requests  []*store.Signed[store.Request]
}

// errDone means a retried change had already gone through.
var errDone = errors.New("already done")

// commit turns the plan that build makes from the current verified state
// into the next commit of the room's chain and stores it. It re-reads and
// rebuilds when another member committed first, and retries while the
// cluster is unavailable, until ctx ends. A retired key is rotated first.
func (s *Service) commit(ctx context.Context, name, what string, build func(*roomView) (*plan, error)) (CommitStats, error) {
	var stats CommitStats
	for attempt := 0; ; attempt++ {
		v, err := s.memberView(ctx, name)
		if err != nil {
			return stats, fmt.Errorf("%s in %q: %w", what, name, err)
		}
		p, err := build(v)
		if errors.Is(err, errDone) {
			return stats, nil
		}
		if err != nil {
			return stats, fmt.Errorf("%s in %q: %w", what, name, err)
		}
		body, opts, err := s.makeCommit(ctx, v, p)
		if err != nil {
			return stats, fmt.Errorf("%s in %q: %w", what, name, err)
		}
		res, err := s.putCommit(ctx, name, body, opts)
		if err == nil {
			stats = CommitStats{Commit: body.N, BytesWritten: res.BytesWritten, Transactions: res.Transactions, Wraps: len(opts.Wraps)}
			_, err = s.loadView(ctx, name)
			return stats, err
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 20 {
			return stats, fmt.Errorf("%s in %q: %w", what, name, err)
		}
		// Someone committed first: decide again on the new state.
	}
}

// putCommit stores a commit, sending the same bytes again while the
// cluster is unavailable (a commit that went through is then reported as
// stored), until ctx ends.
func (s *Service) putCommit(ctx context.Context, name string, body store.Commit, opts store.CommitOptions) (*store.CommitResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.st.PutCommit(ctx, s.me, names.Room(name), body, opts)
		if !errors.Is(err, store.ErrUnavailable) {
			return res, err
		}
		if serr := sleepCtx(ctx, backoff(min(attempt, 6))); serr != nil {
			return nil, err
		}
	}
}

// makeCommit builds commit v.N+1 for plan p, with a new epoch key and its
// wraps when p removes someone or rotates.
func (s *Service) makeCommit(ctx context.Context, v *roomView, p *plan) (store.Commit, store.CommitOptions, error) {
	cur := v.Epochs[len(v.Epochs)-1]
	c := store.Commit{
		Room: v.Name, N: v.N + 1, Prev: v.Digest, Op: p.op,
		Epoch: v.Epoch, KeyCheck: cur.KeyCheck, Retired: v.Retired,
		Heads: p.heads, Time: s.now().UTC(), Disappear: p.disappear,
		Device: s.signingDevice(),
	}
	opts := store.CommitOptions{Requests: p.requests}
	for _, e := range p.add {
		opts.Joined = append(opts.Joined, names.User(e.User))
	}
	for _, u := range p.relist {
		opts.Joined = append(opts.Joined, names.User(u))
	}
	for _, e := range p.deny {
		opts.Gone = append(opts.Gone, names.User(e.User))
	}
	for _, u := range p.end {
		opts.Gone = append(opts.Gone, names.User(u))
	}
	// The roster after the change, as the digest sees it.
	after := &roomState{RosterSum: v.RosterSum, Count: v.Count}
	for _, e := range p.add {
		after.addToSum(e.User, e.Key, e.Devices, +1)
		after.Count++
		c.Users = append(c.Users, e)
	}
	c.Users = append(c.Users, p.deny...)
	devices := make(map[string][]string, len(p.devices))
	rotate := false
	for _, e := range p.devices {
		m := v.Members[e.User]
		after.addToSum(e.User, m.Key, m.Devices, -1)
		after.addToSum(e.User, e.Key, e.Devices, +1)
		c.Users = append(c.Users, e)
		devices[e.User] = e.Devices
		for _, d := range m.Devices {
			if !slices.Contains(e.Devices, d) {
				rotate = true
			}
		}
	}
	ending := make(map[string]bool, len(p.end))
	for _, u := range p.end {
		m := v.Members[u]
		after.addToSum(u, m.Key, m.Devices, -1)
		after.Count--
		ending[u] = true
		c.Users = append(c.Users, store.Entry{User: u})
	}
	c.Count, c.Roster = after.Count, after.rosterDigest()

	switch p.op {
	case store.OpLeave:
		c.Retired = true
	case store.OpAdd, store.OpDevices:
		if rotate {
			break
		}
		// The newcomers (or every device of a member whose devices
		// change) get the current key.
		k, err := s.epochKey(ctx, v, v.Epoch)
		if err != nil {
			return c, opts, err
		}
		c.WrapTag = newTag()
		for _, e := range append(slices.Clone(p.add), p.devices...) {
			for _, d := range e.Devices {
				pub, err := s.deviceKey(ctx, e.User, e.Key, d, false)
				if err != nil {
					return c, opts, fmt.Errorf("cannot wrap the key for %s: %w", e.User, err)
				}
				w, err := wrapTo(pub, v.Name, c.N, c.WrapTag, e.User, d, k)
				if err != nil {
					return c, opts, err
				}
				opts.Wraps = append(opts.Wraps, w)
			}
		}
		c.Wraps = len(opts.Wraps)
	}
	switch {
	case p.op == store.OpRemove, p.op == store.OpRotate, p.op == store.OpRekey, rotate:
		prev, err := s.epochKey(ctx, v, v.Epoch)
		if err != nil {
			return c, opts, err
		}
		k := crypto.NewRoomKey()
		c.Epoch = v.Epoch + 1
		c.KeyCheck = crypto.KeyCheck(v.Name, c.Epoch, k)
		if c.KeyLink, err = crypto.SealKeyLink(k, v.Name, c.Epoch, prev); err != nil {
			return c, opts, err
		}
		c.Retired = false
		c.WrapTag = newTag()
		var roster []string
		for _, u := range v.roster() {
			if !ending[u] {
				roster = append(roster, u)
			}
		}
		var keys map[string]*crypto.PublicIdentity
		if p.rekey != nil {
			keys = map[string]*crypto.PublicIdentity{s.me.Name() + "/" + deviceID(p.rekey): p.rekey}
		}
		if opts.Wraps, err = s.wrapAll(ctx, v, roster, devices, keys, c.N, c.WrapTag, k); err != nil {
			return c, opts, err
		}
		c.Wraps = len(opts.Wraps)
		opts.DropWrapsBefore = cur.Commit
	}
	return c, opts, nil
}

// wrapAll wraps key k to every device of every user in roster (devices
// overrides the roster's devices of some users), on every core. A member
// whose stored key is not the one the room admitted stops the rotation
// with an error naming them: a rotation never leaves a member out
// silently.
func (s *Service) wrapAll(ctx context.Context, v *roomView, roster []string, devices map[string][]string, keys map[string]*crypto.PublicIdentity, n uint64, tag string, k crypto.RoomKey) ([]store.WrapPut, error) {
	if _, _, err := s.lookupUsers(ctx, roster); err != nil {
		return nil, err
	}
	type target struct {
		user, dev string
		pub       *crypto.PublicIdentity
	}
	targets := make([]target, 0, len(roster))
	for _, u := range roster {
		m := v.Members[u]
		ds := m.Devices
		if o, ok := devices[u]; ok {
			ds = o
		}
		for _, d := range ds {
			if p := keys[u+"/"+d]; p != nil {
				targets = append(targets, target{u, d, p})
				continue
			}
			p, err := s.deviceKey(ctx, u, m.Key, d, true)
			if err != nil {
				return nil, fmt.Errorf("cannot wrap the new key for %s: %w", u, err)
			}
			targets = append(targets, target{u, d, p})
		}
	}
	out := make([]store.WrapPut, len(targets))
	errs := make([]error, len(targets))
	workers := max(1, min(8, len(targets)/32))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(targets); i += workers {
				t := targets[i]
				out[i], errs[i] = wrapTo(t.pub, v.Name, n, tag, t.user, t.dev, k)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// wrapTo wraps k to the device dev of user, whose key is p.
func wrapTo(p *crypto.PublicIdentity, room string, n uint64, tag, user, dev string, k crypto.RoomKey) (store.WrapPut, error) {
	sealed, err := crypto.WrapKeys(p, wrapInfo(room, n, tag, user, dev), []crypto.RoomKey{k})
	if err != nil {
		return store.WrapPut{}, fmt.Errorf("wrap the room key for %s: %w", user, err)
	}
	return store.WrapPut{User: names.User(user), Device: dev, Sealed: sealed}, nil
}

func newTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// memberView loads the room, checks that it is sound and that I am a
// member, and rotates a retired key first, so that whatever comes next
// uses a key that no departed member holds.
func (s *Service) memberView(ctx context.Context, name string) (*roomView, error) {
	for attempt := 0; ; attempt++ {
		v, err := s.loadView(ctx, name)
		if err != nil {
			return nil, err
		}
		if v.fault != nil {
			if v.blocker != nil && attempt < 20 {
				// An invalid commit sits where the next one goes: it can
				// never count, so remove exactly that record and go on.
				if err := s.st.DropCommit(ctx, names.Room(name), v.blocker.Body.N, v.blocker.ModRevision); err != nil && !errors.Is(err, store.ErrConflict) {
					return nil, err
				}
				s.log.Warn("removed an invalid commit", "room", name, "commit", v.blocker.Body.N, "err", v.fault)
				continue
			}
			return nil, v.fault
		}
		if err := s.forkedErr(name); err != nil {
			return nil, err
		}
		if v.Closed {
			return nil, fmt.Errorf("room %q: %w", name, ErrClosed)
		}
		if !v.isMember(s.me.Name()) {
			if v.hasRequest(s.me.Name()) != nil {
				return nil, fmt.Errorf("room %q: %w (your join request is pending)", name, ErrNotMember)
			}
			return nil, fmt.Errorf("room %q: %w", name, ErrNotMember)
		}
		if !slices.Contains(v.Members[s.me.Name()].Devices, s.dev) {
			return nil, fmt.Errorf("room %q: %w", name, ErrDeviceNotListed)
		}
		if !v.Retired {
			return v, nil
		}
		if attempt >= 20 {
			// Never hand back a key a departed member holds.
			return nil, fmt.Errorf("room %q: the key retired by a departure could not be rotated: %w", name, store.ErrConflict)
		}
		body, opts, err := s.makeCommit(ctx, v, &plan{op: store.OpRotate})
		if err != nil {
			return nil, fmt.Errorf("rotate the retired key of %q: %w", name, err)
		}
		if _, err := s.putCommit(ctx, name, body, opts); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("rotate the retired key of %q: %w", name, err)
		}
	}
}

func joinNames(ns []string) string {
	out := ""
	for i, n := range ns {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
