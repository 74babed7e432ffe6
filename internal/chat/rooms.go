package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	Name      string    `json:"room"`
	Kind      string    `json:"kind"`
	Creator   string    `json:"creator"`
	Peer      string    `json:"peer,omitempty"` // direct rooms: the other user
	Member    bool      `json:"member"`
	Requested bool      `json:"requested,omitempty"` // my join request is pending
	Members   []string  `json:"members"`
	Epoch     uint32    `json:"epoch"`
	Created   time.Time `json:"created"`
	Revision  int64     `json:"-"`
}

// Member is one current member of a room.
type Member struct {
	Name    string    `json:"user"`
	AddedBy string    `json:"added_by"`
	Since   time.Time `json:"since"`
	Creator bool      `json:"creator,omitempty"`
	Me      bool      `json:"me,omitempty"`
}

// Rooms lists the group rooms and my direct rooms, with my standing in
// each. Direct rooms of other users are left out. Rooms whose records fail
// verification are reported in rejected.
func (s *Service) Rooms(ctx context.Context) (rooms []RoomInfo, rejected []Rejected, err error) {
	recs, bad, _, err := s.st.Rooms(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range bad {
		rejected = append(rejected, Rejected{What: "room record", Reason: b.Err.Error(), Revision: b.Revision})
	}
	me := s.me.Name()
	for _, r := range recs {
		if r.Body.Kind == store.RoomDirect && !slices.Contains(r.Body.Members, me) {
			continue
		}
		v, err := s.loadView(ctx, r.Body.Name)
		if err != nil {
			if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, nil, err
			}
			rejected = append(rejected, Rejected{Room: r.Body.Name, What: "room", Reason: err.Error(), Revision: r.ModRevision})
			continue
		}
		rooms = append(rooms, v.info(me))
		rejected = append(rejected, v.rejected...)
	}
	return rooms, rejected, nil
}

// Room describes one room.
func (s *Service) Room(ctx context.Context, room string) (RoomInfo, error) {
	name, err := s.resolve(room)
	if err != nil {
		return RoomInfo{}, err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return RoomInfo{}, err
	}
	return v.info(s.me.Name()), nil
}

func (v *roomView) info(me string) RoomInfo {
	ri := RoomInfo{
		Name: v.name, Kind: v.kind, Creator: v.creator, Member: v.isMember(me),
		Requested: v.hasRequest(me) != nil, Members: slices.Clone(v.members),
		Epoch: v.current().epoch, Created: v.created, Revision: v.revision,
	}
	if v.kind == store.RoomDirect {
		for _, p := range v.peers {
			if p != me {
				ri.Peer = p
			}
		}
	}
	return ri
}

// resolve turns a room argument into a room name: "@bob" means my direct
// room with bob; anything else is a group room name (or a direct room name
// as listed).
func (s *Service) resolve(arg string) (string, error) {
	if u, ok := cutAt(arg); ok {
		peer, err := names.User(u)
		if err != nil {
			return "", err
		}
		return names.Direct(s.me.Name(), peer)
	}
	return names.AnyRoom(arg)
}

func cutAt(arg string) (string, bool) {
	if len(arg) > 1 && arg[0] == '@' {
		if _, _, ok := names.DirectPair(arg); !ok {
			return arg[1:], true
		}
	}
	return "", false
}

// Resolve returns the room name a command-line room argument stands for.
func (s *Service) Resolve(arg string) (string, error) { return s.resolve(arg) }

// CreateRoom creates a group room with me as its creator and only member.
func (s *Service) CreateRoom(ctx context.Context, room string) (RoomInfo, error) {
	name, err := names.Room(room)
	if err != nil {
		return RoomInfo{}, err
	}
	return s.create(ctx, name, store.RoomGroup, nil)
}

// DirectRoom opens my direct room with user, creating it if needed. There
// is at most one direct room per pair; no third user can ever join it.
func (s *Service) DirectRoom(ctx context.Context, user string) (RoomInfo, error) {
	peer, err := names.User(user)
	if err != nil {
		return RoomInfo{}, err
	}
	name, err := names.Direct(s.me.Name(), peer)
	if err != nil {
		return RoomInfo{}, fmt.Errorf("direct room with %q: %w", peer, err)
	}
	if v, err := s.loadView(ctx, name); err == nil {
		return v.info(s.me.Name()), nil
	} else if !errors.Is(err, ErrNoRoom) {
		return RoomInfo{}, err
	}
	a, b, _ := names.DirectPair(name)
	info, err := s.create(ctx, name, store.RoomDirect, []string{a, b})
	if errors.Is(err, ErrRoomExists) {
		// The peer created it at the same moment: use theirs.
		return s.Room(ctx, name)
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
	wraps := make([]store.Wrap, 0, len(members))
	for _, m := range members {
		p, ok := pubs[m]
		if !ok {
			if e := bad[m]; e != nil {
				return RoomInfo{}, fmt.Errorf("create %q: %w", name, e)
			}
			return RoomInfo{}, fmt.Errorf("create %q: %w: %q", name, ErrNoUser, m)
		}
		sealed, err := crypto.WrapKeys(p, wrapInfo(name, 1, m), []crypto.RoomKey{key})
		if err != nil {
			return RoomInfo{}, fmt.Errorf("create %q: %w", name, err)
		}
		wraps = append(wraps, store.Wrap{Epoch: 1, User: m, Sealed: sealed, Created: now})
	}
	rec := store.Room{Name: name, Kind: kind, Creator: me, Members: peers, Created: now}
	_, err = s.st.CreateRoom(ctx, s.me, rec, store.Epoch{Epoch: 1, Reason: "created", Created: now}, wraps)
	if errors.Is(err, store.ErrUnavailable) {
		// The write may have committed; see what is there.
		if v, rerr := s.loadView(ctx, name); rerr == nil && v.creator == me && v.kind == kind {
			return v.info(me), nil
		}
	}
	if errors.Is(err, store.ErrExists) {
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
func (s *Service) Members(ctx context.Context, room string) ([]Member, error) {
	name, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(v.members))
	for _, m := range v.members {
		mem := Member{Name: m, Creator: m == v.creator, Me: m == s.me.Name()}
		// Since: the first epoch of the current unbroken run of membership.
		for i := len(v.epochs) - 1; i >= 0; i-- {
			w := v.epochs[i].wraps[m]
			if w == nil || (i < len(v.epochs)-1 && v.epochs[i].left[m] != nil) {
				break
			}
			mem.Since, mem.AddedBy = w.Body.Created, w.Signer
		}
		out = append(out, mem)
	}
	return out, nil
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
