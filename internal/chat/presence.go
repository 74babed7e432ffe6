package chat

import (
	"context"
	"maps"
)

// GoOnline marks me online until ctx ends or stop is called; stop waits and
// marks me offline at once. Presence is a hint, not a proof: it is not
// signed, and anyone with write access to etcd can fake it.
func (s *Service) GoOnline(ctx context.Context) (stop func(), err error) {
	return s.st.Presence(ctx, s.user)
}

// Online returns the users online now and the revision read.
func (s *Service) Online(ctx context.Context) (map[string]bool, int64, error) {
	return s.st.Online(ctx)
}

// Presence is who is online: a snapshot, or the reason none can be had
// for now (Err; the next snapshot follows once the cluster answers).
type Presence struct {
	Online map[string]bool
	Err    error
}

// FollowPresence delivers who is online: a first snapshot as soon as it is
// read, then a new one after every change, until ctx ends (the channel
// then closes). It follows an etcd watch; a lost connection resumes by
// itself and a compacted start revision is answered by reading the set
// again, here, so callers see only snapshots. Snapshots coalesce while
// unread.
func (s *Service) FollowPresence(ctx context.Context) <-chan Presence {
	out := make(chan Presence, 1)
	put := func(p Presence) bool {
		for {
			select {
			case out <- p:
				return true
			case <-out: // replace an unread snapshot with the newer one
			case <-ctx.Done():
				return false
			}
		}
	}
	go func() {
		defer close(out)
		for attempt := 0; ctx.Err() == nil; attempt++ {
			online, rev, err := s.st.Online(ctx)
			if err != nil {
				if !put(Presence{Err: err}) || sleepCtx(ctx, backoff(min(attempt, 6))) != nil {
					return
				}
				continue
			}
			attempt = 0
			if !put(Presence{Online: maps.Clone(online)}) {
				return
			}
			wctx, cancel := context.WithCancel(ctx)
			ch, err := s.st.WatchPresence(wctx, rev+1)
			if err != nil {
				cancel()
				continue
			}
			for ev := range ch {
				if ev.Compacted {
					break // read the set again
				}
				if ev.Err != nil {
					if !put(Presence{Online: maps.Clone(online), Err: ev.Err}) {
						break
					}
					continue
				}
				for _, c := range ev.Changes {
					if c.Online {
						online[c.User] = true
					} else {
						delete(online, c.User)
					}
				}
				if !put(Presence{Online: maps.Clone(online)}) {
					break
				}
			}
			cancel()
			for range ch {
			}
		}
	}()
	return out
}
