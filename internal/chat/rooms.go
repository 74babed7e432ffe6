package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Room kinds.
const (
	Group  = store.RoomGroup
	Direct = store.RoomDirect
)

// RoomInfo describes a room as the logged-in user sees it.
type RoomInfo struct {
	Name      string `json:"room"`
	Kind      string `json:"kind"`
	Creator   string `json:"creator"`
	Peer      string `json:"peer,omitempty"` // direct rooms: the other user
	Member    bool   `json:"member"`
	Requested bool   `json:"requested,omitempty"` // my join request is pending
	// Members lists the members of a room whose chain was verified (rooms
	// I am in, or asked about); MemberCount is their number, or for other
	// rooms of a listing the unverified count etcd holds.
	Members     []string `json:"members"`
	MemberCount int      `json:"member_count"`
	Epoch       uint32   `json:"epoch"`
	Commit      uint64   `json:"commit,omitempty"`
	Closed      bool     `json:"closed,omitempty"`
	// DisappearSeconds is how long messages sent now live (0: for good).
	DisappearSeconds int64     `json:"disappear_seconds,omitempty"`
	Created          time.Time `json:"created"`
	Revision         int64     `json:"-"`
	// Warning, when set, says why the room cannot be used as it stands
	// (its chain was rolled back or tampered with in etcd).
	Warning string `json:"warning,omitempty"`
}

// Member is one current member of a room.
type Member struct {
	Name    string    `json:"user"`
	AddedBy string    `json:"added_by"`
	Since   time.Time `json:"since"`
	Creator bool      `json:"creator,omitempty"`
	Me      bool      `json:"me,omitempty"`
	// Fingerprint is of the key the room admitted for the member;
	// Verified says that key was compared out of band (see MarkVerified).
	Fingerprint string `json:"fingerprint"`
	Verified    bool   `json:"verified"`
}

// Rooms lists the group rooms and my direct rooms, with my standing in
// each. Direct rooms of other users are left out. It reads the room
// records in pages (a few requests for thousands of rooms) and verifies
// the chains only of the rooms I am in or asked to join whose chain moved
// since this home last verified it, several at a time.
func (s *Service) Rooms(ctx context.Context) (rooms []RoomInfo, rejected []Rejected, err error) {
	return s.RoomsProgress(ctx, nil)
}

// roomsVerifiers is how many room chains RoomsProgress verifies at once:
// each is a round trip or two, so a home that verifies thousands (a new
// device of a member of many rooms) waits for the cluster's latency a few
// times over, not thousands of times.
const roomsVerifiers = 8

// RoomsProgress is Rooms with a progress callback. progress, if not nil,
// is told how many room records were read so far after each page of them,
// and again after each room whose chain it verifies, so that a caller can
// bound the time between two round trips rather than the whole listing.
// It is called from one goroutine at a time.
func (s *Service) RoomsProgress(ctx context.Context, progress func(read int)) (rooms []RoomInfo, rejected []Rejected, err error) {
	recs, bad, _, err := s.st.Rooms(ctx, progress)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range bad {
		rejected = append(rejected, Rejected{What: "room record", Reason: b.Err.Error(), Revision: b.Revision})
	}
	me := s.me.Name()
	mine, err := s.st.MyRooms(ctx, names.User(me))
	if err != nil {
		return nil, nil, err
	}
	// Each listed room: its info as listed, or a chain to verify.
	type listed struct {
		info     RoomInfo
		rejected []Rejected
		skip     bool // its chain failed verification: not listed
	}
	list := make([]listed, 0, len(recs))
	var todo []int
	for _, r := range recs {
		b := r.Room.Body
		if b.Kind == store.RoomDirect && !slices.Contains(b.Members, me) {
			continue
		}
		base, perr := s.pinned(b.Name)
		if perr != nil {
			rejected = append(rejected, Rejected{Room: b.Name, What: "pinned state", Reason: perr.Error()})
		}
		hint := mine[b.Name]
		switch {
		case base != nil && base.N == r.HeadHint && hint != "request":
			// Verified up to the newest commit etcd lists: no read.
			list = append(list, listed{info: (&roomView{roomState: base}).info(me)})
		case base == nil && hint == "" && b.Kind == store.RoomGroup:
			list = append(list, listed{info: RoomInfo{
				Name: b.Name, Kind: b.Kind, Creator: b.Creator, MemberCount: r.CountHint,
				Created: b.Created, Revision: r.Room.ModRevision,
			}})
		default:
			todo = append(todo, len(list))
			list = append(list, listed{info: RoomInfo{Name: b.Name, Revision: r.Room.ModRevision}})
		}
	}
	if err := s.verifyListed(ctx, len(todo), func(ctx context.Context, j int) error {
		l := &list[todo[j]]
		v, err := s.loadView(ctx, l.info.Name)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			l.rejected = []Rejected{{Room: l.info.Name, What: "room", Reason: err.Error(), Revision: l.info.Revision}}
			l.skip = true
			return nil
		}
		l.info, l.rejected = v.info(me), v.rejected
		return nil
	}, func() {
		if progress != nil {
			progress(len(recs))
		}
	}); err != nil {
		return nil, nil, err
	}
	for _, l := range list {
		if !l.skip {
			rooms = append(rooms, l.info)
		}
		rejected = append(rejected, l.rejected...)
	}
	return rooms, rejected, nil
}

// verifyListed runs verify(ctx, 0..n-1), roomsVerifiers at a time, calling
// done after each from this goroutine, and returns the first error (the
// others then stop).
func (s *Service) verifyListed(ctx context.Context, n int, verify func(context.Context, int) error, done func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	results := make(chan error)
	var wg sync.WaitGroup
	for range min(n, roomsVerifiers) {
		wg.Go(func() {
			for j := range jobs {
				results <- verify(ctx, j)
			}
		})
	}
	go func() {
		defer close(jobs)
		for j := range n {
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var first error
	for err := range results {
		if err != nil && first == nil {
			first = err
			cancel()
		}
		done()
	}
	return first
}

// Room describes one room.
func (s *Service) Room(ctx context.Context, room names.Room) (RoomInfo, error) {
	name := string(room)
	v, err := s.loadView(ctx, name)
	if err != nil {
		return RoomInfo{}, err
	}
	return v.info(s.me.Name()), nil
}

func (v *roomView) info(me string) RoomInfo {
	ri := RoomInfo{
		Name: v.Name, Kind: v.Kind, Creator: v.Creator, Member: v.isMember(me),
		Requested: v.hasRequest(me) != nil, Members: v.roster(), MemberCount: v.Count,
		Epoch: v.Epoch, Commit: v.N, Closed: v.Closed, Created: v.Created, Revision: v.revision,
		DisappearSeconds: v.Disappear,
	}
	if v.fault != nil {
		ri.Warning = v.fault.Error()
	}
	if v.Kind == store.RoomDirect {
		for _, p := range v.Peers {
			if p != me {
				ri.Peer = p
			}
		}
	}
	return ri
}

// ParseRoom parses a room as the user typed it (names.ParseRoomArg, for
// me): "@bob" means my direct room with bob; anything else is a group
// room name (or a direct room name as listed). The front ends call it
// once per argument, and pass the name it returns.
func (s *Service) ParseRoom(arg string) (names.Room, error) {
	return names.ParseRoomArg(s.user, arg)
}

// CreateRoom creates a group room with me as its creator and only member.
// A direct room is opened with DirectRoom instead.
func (s *Service) CreateRoom(ctx context.Context, room names.Room) (RoomInfo, error) {
	if room.IsDirect() {
		_, err := names.ParseGroupRoom(string(room)) // the error it gives for typed input
		return RoomInfo{}, err
	}
	return s.create(ctx, string(room), store.RoomGroup, nil)
}

// DirectRoom opens my direct room with user, creating it if needed. There
// is at most one direct room per pair; no third user can ever join it.
func (s *Service) DirectRoom(ctx context.Context, peer names.User) (RoomInfo, error) {
	room, err := names.DirectRoom(s.user, peer)
	if err != nil {
		return RoomInfo{}, fmt.Errorf("direct room with %q: %w", peer, err)
	}
	name := string(room)
	if v, err := s.loadView(ctx, name); err == nil {
		return v.info(s.me.Name()), nil
	} else if !errors.Is(err, ErrNoRoom) {
		return RoomInfo{}, err
	}
	a, b, _ := room.Pair()
	info, err := s.create(ctx, name, store.RoomDirect, []string{string(a), string(b)})
	if errors.Is(err, ErrRoomExists) {
		// The peer created it at the same moment: use theirs.
		return s.Room(ctx, room)
	}
	return info, err
}

func (s *Service) create(ctx context.Context, name, kind string, peers []string) (RoomInfo, error) {
	me := s.me.Name()
	now := s.now().UTC()
	members := []string{me}
	if kind == store.RoomDirect {
		members = peers
	}
	pubs, bad, err := s.lookupUsers(ctx, members)
	if err != nil {
		return RoomInfo{}, err
	}
	key := crypto.NewRoomKey()
	c := store.Commit{
		Room: name, N: 1, Op: store.OpCreate, Epoch: 1,
		KeyCheck: crypto.KeyCheck(name, 1, key), WrapTag: newTag(), Time: now,
		Device: s.signingDevice(),
	}
	st := &roomState{RosterSum: make([]byte, 32)}
	var opts store.CommitOptions
	for _, m := range members {
		p, ok := pubs[m]
		if !ok {
			if e := bad[m]; e != nil {
				return RoomInfo{}, fmt.Errorf("create %q: %w", name, e)
			}
			return RoomInfo{}, fmt.Errorf("create %q: %w: %q", name, ErrNoUser, m)
		}
		if err := s.pin(m, p); err != nil {
			return RoomInfo{}, fmt.Errorf("create %q: %w", name, err)
		}
		devs, err := s.deviceSet(ctx, m)
		if err != nil {
			return RoomInfo{}, fmt.Errorf("create %q: %w", name, err)
		}
		e := store.Entry{User: m, Key: p.Fingerprint(), Devices: devs}
		c.Users = append(c.Users, e)
		st.addToSum(e.User, e.Key, e.Devices, +1)
		st.Count++
		for _, d := range devs {
			dp, err := s.deviceKey(ctx, m, e.Key, d, false)
			if err != nil {
				return RoomInfo{}, fmt.Errorf("create %q: %w", name, err)
			}
			w, err := wrapTo(dp, name, 1, c.WrapTag, m, d, key)
			if err != nil {
				return RoomInfo{}, fmt.Errorf("create %q: %w", name, err)
			}
			opts.Wraps = append(opts.Wraps, w)
		}
		opts.Joined = append(opts.Joined, names.User(m))
	}
	c.Wraps, c.Count, c.Roster = len(opts.Wraps), st.Count, st.rosterDigest()
	opts.Room = &store.Room{Name: name, Kind: kind, Creator: me, Members: peers, Created: now, Device: s.signingDevice()}
	for attempt := 0; ; attempt++ {
		_, err = s.st.PutCommit(ctx, s.me, names.Room(name), c, opts)
		if !errors.Is(err, store.ErrUnavailable) {
			break
		}
		// The write may have committed; the same bytes again are safe.
		if serr := sleepCtx(ctx, backoff(min(attempt, 6))); serr != nil {
			return RoomInfo{}, err
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return RoomInfo{}, fmt.Errorf("create %q: %w", name, ErrRoomExists)
	}
	if err != nil {
		return RoomInfo{}, err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return RoomInfo{}, err
	}
	return v.info(me), nil
}

// Members lists a room's current members. Anyone may list them: membership
// is visible in etcd to everyone with access.
func (s *Service) Members(ctx context.Context, room names.Room) ([]Member, error) {
	name := string(room)
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.members(v), nil
}

// members lists the current members of v, each marked verified if I
// compared the key the room admitted for them.
func (s *Service) members(v *roomView) []Member {
	roster := v.roster()
	out := make([]Member, 0, len(roster))
	for _, m := range roster {
		sp := v.current(m)
		fp := v.Members[m].Key
		out = append(out, Member{Name: m, Creator: m == v.Creator, Me: m == s.me.Name(), Since: sp.Since, AddedBy: sp.By,
			Fingerprint: fp, Verified: s.isVerified(m, fp)})
	}
	return out
}

// WatchRooms signals, until ctx ends, whenever the list of rooms may have
// changed: once as soon as the watch is in place (so a listing made after
// that signal misses nothing), then after each room record written, each
// rejected one, and each compaction of the watched revisions. Signals
// coalesce while unread. The channel closes when ctx ends. It is an etcd
// watch (no polling) and resumes by itself after a lost connection.
func (s *Service) WatchRooms(ctx context.Context) (<-chan struct{}, error) {
	rev, err := s.st.RoomsRevision(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch rooms: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	evs, err := s.st.WatchRooms(wctx, rev+1)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch rooms: %w", err)
	}
	out := make(chan struct{}, 1)
	out <- struct{}{}
	go func() {
		defer close(out)
		defer cancel()
		for ev := range evs {
			if ev.Err != nil && !ev.Compacted && len(ev.Changed) == 0 && len(ev.Bad) == 0 {
				continue // interrupted; the watch resumes without a gap
			}
			select {
			case out <- struct{}{}:
			default: // a signal is already waiting
			}
		}
	}()
	return out, nil
}
