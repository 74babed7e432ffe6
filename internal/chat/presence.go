package chat

import (
	"context"

	"github.com/parley-chat/parley/internal/store"
)

// GoOnline marks me online until ctx ends or stop is called; stop waits and
// marks me offline at once. Presence is a hint, not a proof: it is not
// signed, and anyone with write access to etcd can fake it.
func (s *Service) GoOnline(ctx context.Context) (stop func(), err error) {
	return s.st.Presence(ctx, s.me.Name())
}

// Online returns the users online now and the revision read.
func (s *Service) Online(ctx context.Context) (map[string]bool, int64, error) {
	return s.st.Online(ctx)
}

// PresenceChange is one user coming online or going offline.
type PresenceChange = store.PresenceChange

// PresenceEvent is a batch of presence changes; after Compacted, call
// Online again and watch from its revision + 1.
type PresenceEvent = store.PresenceEvent

// WatchPresence delivers presence changes from fromRev until ctx ends.
func (s *Service) WatchPresence(ctx context.Context, fromRev int64) (<-chan PresenceEvent, error) {
	return s.st.WatchPresence(ctx, fromRev)
}
