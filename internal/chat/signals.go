package chat

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Typing indicators and read markers are ephemeral signals: etcd keys of
// their own, bound to short leases, never part of a room's log, and sent
// only by users who opt in (the front ends' --share-typing and
// --share-read). Like presence they are unsigned hints: anyone who can
// write to etcd can fake them, and they tell etcd's operators who types
// and reads in which room, when; which is why they are off by default.
// Only the signals of the room's current members are reported.

// TypingFor is how long "typing" lasts after the last report of it.
const TypingFor = 6 * time.Second

// ReadFor is how long a read marker lasts after it was last written.
const ReadFor = time.Hour

// Typing reports that I am typing in room, for TypingFor.
func (s *Service) Typing(ctx context.Context, room names.Room) error {
	name, err := s.signalRoom(ctx, room)
	if err != nil {
		return err
	}
	return s.st.PutSignal(ctx, names.Room(name), store.SignalTyping, s.user, strconv.FormatInt(s.now().UnixMilli(), 10), TypingFor)
}

// StopTyping withdraws my typing indicator in room (a message was sent,
// the line cleared).
func (s *Service) StopTyping(ctx context.Context, room names.Room) error {
	name := string(room)
	return s.st.DeleteSignal(ctx, names.Room(name), store.SignalTyping, s.user)
}

// ShareRead tells the members of room that I have seen its messages up
// to revision rev (a Message's Revision), for ReadFor.
func (s *Service) ShareRead(ctx context.Context, room names.Room, rev int64) error {
	name, err := s.signalRoom(ctx, room)
	if err != nil {
		return err
	}
	if rev <= 0 {
		return fmt.Errorf("share what I read in %q: no revision", name)
	}
	return s.st.PutSignal(ctx, names.Room(name), store.SignalRead, s.user, strconv.FormatInt(rev, 10), ReadFor)
}

// signalRoom resolves a room I may signal in: one I am a member of.
func (s *Service) signalRoom(ctx context.Context, room names.Room) (string, error) {
	name := string(room)
	v, err := s.cachedView(ctx, name)
	if err == nil && !v.isMember(s.me.Name()) {
		v, err = s.loadView(ctx, name) // admitted since it was read?
	}
	if err != nil {
		return "", err
	}
	if !v.isMember(s.me.Name()) {
		return "", fmt.Errorf("signal in %q: %w", name, ErrNotMember)
	}
	return name, nil
}

// Signals is what the other members of a room share: who is typing
// (sorted), and how far each has read (the revision of the newest
// message seen); or why none can be had for now (Err).
type Signals struct {
	Typing []string
	Read   map[string]int64
	Err    error
}

// FollowSignals delivers the signals of room's other members: a first
// snapshot, then a new one after every change, until ctx ends (the
// channel then closes). Snapshots coalesce while unread; a lost watch
// resumes by itself and a compaction is answered by reading again.
func (s *Service) FollowSignals(ctx context.Context, room names.Room) (<-chan Signals, error) {
	name := string(room)
	out := make(chan Signals, 1)
	put := func(sg Signals) bool {
		for {
			select {
			case out <- sg:
				return true
			case <-out:
			case <-ctx.Done():
				return false
			}
		}
	}
	go func() {
		defer close(out)
		for attempt := 0; ctx.Err() == nil; attempt++ {
			list, rev, err := s.st.Signals(ctx, names.Room(name))
			if err != nil {
				if !put(Signals{Err: err}) || sleepCtx(ctx, backoff(min(attempt, 6))) != nil {
					return
				}
				continue
			}
			attempt = 0
			cur := make(map[[2]string]string)
			for _, sg := range list {
				cur[[2]string{sg.Kind, sg.User}] = sg.Value
			}
			if !put(s.signals(ctx, name, cur)) {
				return
			}
			wctx, cancel := context.WithCancel(ctx)
			ch, err := s.st.WatchSignals(wctx, names.Room(name), rev+1)
			if err != nil {
				cancel()
				continue
			}
			for ev := range ch {
				if ev.Compacted {
					break
				}
				if ev.Err != nil {
					continue // resuming by itself
				}
				for _, c := range ev.Changes {
					if c.Gone {
						delete(cur, [2]string{c.Kind, c.User})
					} else {
						cur[[2]string{c.Kind, c.User}] = c.Value
					}
				}
				if !put(s.signals(ctx, name, maps.Clone(cur))) {
					break
				}
			}
			cancel()
			for range ch {
			}
		}
	}()
	return out, nil
}

// signals makes a snapshot of the raw signals, keeping those of the
// room's current members other than me.
func (s *Service) signals(ctx context.Context, room string, cur map[[2]string]string) Signals {
	out := Signals{Read: make(map[string]int64)}
	v, err := s.cachedView(ctx, room)
	if err != nil {
		return Signals{Err: err}
	}
	for k, val := range cur {
		kind, user := k[0], k[1]
		if user == s.me.Name() || !v.isMember(user) {
			continue
		}
		switch kind {
		case store.SignalTyping:
			out.Typing = append(out.Typing, user)
		case store.SignalRead:
			if rev, err := strconv.ParseInt(val, 10, 64); err == nil && rev > 0 {
				out.Read[user] = rev
			}
		}
	}
	slices.Sort(out.Typing)
	return out
}
