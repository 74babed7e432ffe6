package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// JoinRequest is a pending request to join a group room.
type JoinRequest struct {
	Room     string    `json:"room"`
	User     string    `json:"user"`
	Time     time.Time `json:"time"`
	Revision int64     `json:"revision"`

	rec *store.Signed[store.Request]
}

// RequestJoin asks to join a group room. Members see the request and one of
// them approves or denies it. Asking again while a request is pending is
// not an error.
func (s *Service) RequestJoin(ctx context.Context, room string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return fmt.Errorf("join %q: %w", name, err)
	}
	me := s.me.Name()
	switch {
	case v.kind == store.RoomDirect:
		return fmt.Errorf("join %q: %w", name, ErrDirectRoom)
	case v.isMember(me):
		return fmt.Errorf("join %q: %w", name, ErrAlreadyMember)
	case v.hasRequest(me) != nil:
		return nil
	}
	err = s.st.PutRequest(ctx, s.me, name, store.Request{User: me, Created: s.now().UTC()})
	if errors.Is(err, store.ErrExists) {
		return nil // filed meanwhile (a retry, or another of my processes)
	}
	if err != nil {
		return fmt.Errorf("join %q: %w", name, err)
	}
	return nil
}

// CancelJoin withdraws my pending join request.
func (s *Service) CancelJoin(ctx context.Context, room string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	return s.st.DeleteRequest(ctx, name, s.me.Name())
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
		a := Approval{Status: JoinApproved}
		if w := v.current().wraps[me]; w != nil {
			a.By = w.Signer
		}
		return a
	case v.hasRequest(me) != nil:
		return Approval{Status: JoinPending}
	case v.denials[me] != "":
		return Approval{Status: JoinDenied, By: v.denials[me]}
	}
	return Approval{Status: JoinNone}
}

// WaitApproval blocks until my request to join room is approved (nil) or
// denied (ErrDenied), or ctx ends. It watches the room; it does not poll.
// If onPending is not nil it is called once the wait begins.
func (s *Service) WaitApproval(ctx context.Context, room string) (Approval, error) {
	name, err := s.resolve(room)
	if err != nil {
		return Approval{}, err
	}
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
		ch, err := s.st.WatchRoom(wctx, name, v.revision+1)
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
func (s *Service) Requests(ctx context.Context, room string) ([]JoinRequest, error) {
	name, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	return append([]JoinRequest(nil), v.requests...), nil
}

// Approve admits user to room: it gives the newcomer every key of the
// room's history, so they read it all. Any member may approve. If two
// members approve at once, one succeeds and the other gets ErrAlreadyMember.
func (s *Service) Approve(ctx context.Context, room, user string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	u, err := names.User(user)
	if err != nil {
		return err
	}
	attempted := false
	for attempt := 0; attempt < 5; attempt++ {
		v, err := s.memberView(ctx, name)
		if err != nil {
			return fmt.Errorf("approve %q in %q: %w", u, name, err)
		}
		if v.isMember(u) {
			by := ""
			if w := v.current().wraps[u]; w != nil {
				by = w.Signer
			}
			if attempted && by == s.me.Name() {
				return nil // my own earlier attempt went through
			}
			return fmt.Errorf("approve %q in %q: %w (approved by %s)", u, name, ErrAlreadyMember, by)
		}
		req := v.hasRequest(u)
		if req == nil {
			return fmt.Errorf("approve %q in %q: %w", u, name, ErrNoRequest)
		}
		p, err := s.User(ctx, u)
		if err != nil {
			return fmt.Errorf("approve %q in %q: %w", u, name, err)
		}
		keys, err := s.roomKeys(v)
		if err != nil {
			return err
		}
		cur := v.current().epoch
		sealed, err := crypto.WrapKeys(p, wrapInfo(name, cur, u), keys[:cur])
		if err != nil {
			return fmt.Errorf("approve %q in %q: %w", u, name, err)
		}
		w := store.Wrap{Epoch: cur, User: u, Sealed: sealed, Created: s.now().UTC()}
		attempted = true
		err = s.st.Approve(ctx, s.me, name, req.rec, v.versionRev, w)
		if err == nil {
			_, err = s.loadView(ctx, name)
			return err
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if errors.Is(err, store.ErrUnavailable) {
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("approve %q in %q: %w", u, name, store.ErrConflict)
}

// Deny refuses user's pending request to join room.
func (s *Service) Deny(ctx context.Context, room, user string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	u, err := names.User(user)
	if err != nil {
		return err
	}
	v, err := s.loadView(ctx, name)
	if err != nil {
		return err
	}
	if !v.isMember(s.me.Name()) {
		return fmt.Errorf("deny %q in %q: %w", u, name, ErrNotMember)
	}
	req := v.hasRequest(u)
	if req == nil {
		if v.isMember(u) {
			return fmt.Errorf("deny %q in %q: %w", u, name, ErrAlreadyMember)
		}
		return fmt.Errorf("deny %q in %q: %w", u, name, ErrNoRequest)
	}
	err = s.st.Deny(ctx, s.me, name, req.rec, store.Denial{User: u, Created: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("deny %q in %q: %w", u, name, err)
	}
	_, err = s.loadView(ctx, name)
	return err
}

// Leave ends my membership of room. The remaining members' clients rotate
// the room key, so I cannot read what is sent afterwards.
func (s *Service) Leave(ctx context.Context, room string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	return s.depart(ctx, name, s.me.Name())
}

// Remove ends user's membership of room and rotates the room key at once,
// so they cannot read what is sent afterwards. Any member may remove any
// other member except the room's creator.
func (s *Service) Remove(ctx context.Context, room, user string) error {
	name, err := s.resolve(room)
	if err != nil {
		return err
	}
	u, err := names.User(user)
	if err != nil {
		return err
	}
	if u == s.me.Name() {
		return s.depart(ctx, name, u)
	}
	if err := s.depart(ctx, name, u); err != nil {
		return err
	}
	return s.rotate(ctx, name)
}

func (s *Service) depart(ctx context.Context, name, u string) error {
	me := s.me.Name()
	for attempt := 0; attempt < 5; attempt++ {
		v, err := s.loadView(ctx, name)
		if err != nil {
			return err
		}
		cur := v.current()
		if !v.isMember(me) {
			if u == me && cur.left[me] != nil {
				return nil // an earlier attempt went through
			}
			return fmt.Errorf("room %q: %w", name, ErrNotMember)
		}
		if u != me {
			if !v.isMember(u) {
				if cur.left[u] != nil {
					return nil
				}
				return fmt.Errorf("remove %q from %q: %w", u, name, ErrNotMember)
			}
			if u == v.creator {
				return fmt.Errorf("remove %q from %q: %w: the room's creator can only leave by themselves", u, name, ErrNotAllowed)
			}
		}
		err = s.st.PutLeft(ctx, s.me, name, store.Left{Epoch: cur.epoch, User: u, Created: s.now().UTC()})
		if err == nil {
			_, err = s.loadView(ctx, name)
			return err
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
	return fmt.Errorf("room %q: %w", name, store.ErrConflict)
}

// memberView loads the room, checks that I am a member and performs a
// pending key rotation first, so that whatever comes next uses a key that
// no departed member holds.
func (s *Service) memberView(ctx context.Context, name string) (*roomView, error) {
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	if v.rolledBack != 0 {
		return nil, fmt.Errorf("room %q: %w: its state went back from key epoch %d to %d", name, ErrRolledBack, v.rolledBack, v.current().epoch)
	}
	if !v.isMember(s.me.Name()) {
		if v.hasRequest(s.me.Name()) != nil {
			return nil, fmt.Errorf("room %q: %w (your join request is pending)", name, ErrNotMember)
		}
		return nil, fmt.Errorf("room %q: %w", name, ErrNotMember)
	}
	if len(v.pending) == 0 {
		return v, nil
	}
	if err := s.rotateView(ctx, v); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	return s.loadView(ctx, name)
}

// rotate starts a new key epoch if a departure is pending.
func (s *Service) rotate(ctx context.Context, name string) error {
	for attempt := 0; attempt < 5; attempt++ {
		v, err := s.loadView(ctx, name)
		if err != nil {
			return err
		}
		if len(v.pending) == 0 {
			return nil
		}
		err = s.rotateView(ctx, v)
		if err == nil || !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
	return fmt.Errorf("rotate %q: %w", name, store.ErrConflict)
}

// rotateView starts epoch n+1 with a fresh key, wrapped (with all older
// keys) to each remaining member and to nobody else.
func (s *Service) rotateView(ctx context.Context, v *roomView) error {
	keys, err := s.roomKeys(v)
	if err != nil {
		return err
	}
	pubs, bad, err := s.lookupUsers(ctx, v.members)
	if err != nil {
		return err
	}
	next := v.current().epoch + 1
	all := append(append([]crypto.RoomKey(nil), keys[:next-1]...), crypto.NewRoomKey())
	now := s.now().UTC()
	wraps := make([]store.Wrap, 0, len(v.members))
	for _, m := range v.members {
		p, ok := pubs[m]
		if !ok {
			s.log.Warn("rotation leaves out a member whose key is unusable", "room", v.name, "user", m, "err", bad[m])
			continue
		}
		sealed, err := crypto.WrapKeys(p, wrapInfo(v.name, next, m), all)
		if err != nil {
			return fmt.Errorf("rotate %q: %w", v.name, err)
		}
		wraps = append(wraps, store.Wrap{Epoch: next, User: m, Sealed: sealed, Created: now})
	}
	reason := "departure of " + joinNames(v.pending)
	err = s.st.Rotate(ctx, s.me, v.name, v.versionRev, store.Epoch{Epoch: next, Reason: reason, Created: now}, wraps)
	if err != nil {
		return err
	}
	_, err = s.loadView(ctx, v.name)
	return err
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

func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << attempt
	return min(d, time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
