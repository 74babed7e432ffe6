package chat

// This file holds a user's identity over time: the key their record names,
// then each key that replaced it (a rotation), signed by the key before
// and hash-linked to it. Whoever trusted a key trusts its successor; rooms
// switch to it with a rekey commit the old key signs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
)

// idChain is a user's identities as verified, oldest first.
type idChain struct {
	keys   []*crypto.PublicIdentity
	digest []byte // of the newest record (the user record, or the last change)
}

func (c *idChain) current() *crypto.PublicIdentity { return c.keys[len(c.keys)-1] }

// byFingerprint returns the identity of the chain with fingerprint fp and
// its place, or nil.
func (c *idChain) byFingerprint(fp string) (*crypto.PublicIdentity, int) {
	for i, k := range c.keys {
		if k.Fingerprint() == fp {
			return k, i
		}
	}
	return nil, -1
}

// verifyIdentity checks a user's record and its identity changes. A change
// that does not follow (a gap, a bad signature, another chain) ends the
// chain there: it is logged, and the identities before it stand.
func (s *Service) verifyIdentity(name string, id *store.Identity) (*idChain, error) {
	rec := id.User
	p, err := crypto.NewPublicIdentity(name, rec.Body.SigningKey, rec.Body.KEMKey)
	if err != nil {
		return nil, fmt.Errorf("user record of %q: %w", name, err)
	}
	if err := rec.Verify(p); err != nil {
		return nil, err
	}
	ch := &idChain{keys: []*crypto.PublicIdentity{p}, digest: rec.Digest()}
	for _, r := range id.Rekeys {
		next, err := crypto.NewPublicIdentity(name, r.Body.SigningKey, r.Body.KEMKey)
		if err == nil && !bytes.Equal(r.Body.Prev, ch.digest) {
			err = errors.New("it does not follow the identity before it")
		}
		if err == nil {
			err = r.Verify(ch.current())
		}
		if err == nil {
			if k, _ := ch.byFingerprint(next.Fingerprint()); k != nil {
				err = errors.New("it names a key used before")
			}
		}
		if err != nil {
			s.log.Warn("an identity change does not count", "user", name, "n", r.Body.N, "err", err)
			break
		}
		ch.keys = append(ch.keys, next)
		ch.digest = r.Digest()
	}
	if id.Bad != nil {
		s.log.Warn("an identity change does not decode", "user", name, "err", id.Bad)
	}
	return ch, nil
}

// checkPinChain is checkPin over a chain: a pin of any identity the chain
// leads from moves to its newest one (the pinned key signed its
// successor), with its verified mark.
func (s *Service) checkPinChain(user string, ch *idChain) error {
	cur := ch.current()
	old := s.pins.Pinned(user)
	if old == "" || old == cur.Fingerprint() {
		return nil
	}
	if k, _ := ch.byFingerprint(old); k == nil {
		return &KeyChangedError{User: user, Pinned: old, Stored: cur.Fingerprint()}
	}
	t := s.trust()
	if t == nil {
		return nil // in-memory pins without marks: the chain speaks
	}
	verified := t.Verified(user) == old
	if err := t.Repin(user, old, cur.Fingerprint()); err != nil {
		return err
	}
	if verified {
		if err := t.SetVerified(user, cur.Fingerprint()); err != nil {
			return err
		}
	}
	s.log.Info("followed an identity change", "user", user, "old", old, "new", cur.Fingerprint())
	return nil
}

// chainOf returns the verified identity chain of user, looked up if needed.
func (s *Service) chainOf(ctx context.Context, user string) (*idChain, error) {
	if _, bad, err := s.lookupUsers(ctx, []string{user}); err != nil {
		return nil, err
	} else if e := bad[user]; e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.chains[user]
	if ch == nil {
		// My own identity at login: a chain of one.
		p := s.users[user]
		if p == nil {
			return nil, fmt.Errorf("%w: %q", ErrNoUser, user)
		}
		ch = &idChain{keys: []*crypto.PublicIdentity{p}}
	}
	return ch, nil
}

// ErrRotating means an identity rotation could not be written.
var ErrRotating = errors.New("the identity could not be rotated")

// RotateIdentity replaces my identity with next, a new identity of mine:
// the change is signed by my current key, and every room I am a member of
// admits next in a commit my current key signs, with a new room key
// wrapped to next and to my other devices. Pins of my old key follow it
// to next (it signed next). It returns the rooms rekeyed; a room it could
// not rekey is in the error, and RotateIdentity may be called again with
// the same next, logged in with the old identity, to finish.
func (s *Service) RotateIdentity(ctx context.Context, next *crypto.Identity) ([]string, error) {
	me := s.me.Name()
	if s.linked {
		return nil, ErrLinkedDevice
	}
	if next.Name() != me {
		return nil, fmt.Errorf("rotate: the new identity is %q's", next.Name())
	}
	np := next.Public()
	// The change, unless written before (a second run).
	s.mu.Lock()
	delete(s.users, me)
	delete(s.chains, me)
	s.mu.Unlock()
	ch, err := s.chainOf(ctx, me)
	if err != nil {
		return nil, err
	}
	switch cur := ch.current(); {
	case cur.Equal(np):
	case cur.Equal(s.me.Public()):
		r := store.Rekey{User: me, N: uint64(len(ch.keys)), Prev: ch.digest, SigningKey: np.SigningKey(), KEMKey: np.KEMKey(), Time: s.now().UTC()}
		if err := s.st.PutRekey(ctx, s.me, r); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRotating, err)
		}
	default:
		return nil, fmt.Errorf("%w: etcd says %s's identity is %s now, neither this one nor the new one", ErrRotating, me, cur.Fingerprint())
	}
	s.mu.Lock()
	delete(s.users, me)
	delete(s.chains, me)
	s.mu.Unlock()
	if ch, err = s.chainOf(ctx, me); err != nil {
		return nil, err
	}
	if !ch.current().Equal(np) {
		return nil, fmt.Errorf("%w: etcd does not show the change", ErrRotating)
	}
	// My devices under the new identity: its own, then the others.
	devs, err := s.deviceSet(ctx, me)
	if err != nil {
		return nil, err
	}
	list := []string{deviceID(np)}
	for _, d := range devs {
		if d != s.dev && d != deviceID(np) {
			list = append(list, d)
		}
	}
	slices.Sort(list[1:])
	rooms, err := s.myRooms(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, room := range rooms {
		if v, err := s.loadView(ctx, room); err == nil && v.isMember(me) && v.Members[me].Key == np.Fingerprint() {
			continue // rekeyed by an earlier run
		}
		did := false
		_, err := s.commit(ctx, room, "admit the new identity of "+me, func(v *roomView) (*plan, error) {
			m := v.Members[me]
			if m.Key == np.Fingerprint() {
				return nil, errDone
			}
			did = true
			return &plan{op: store.OpRekey, devices: []store.Entry{{User: me, Key: np.Fingerprint(), Devices: list}}, rekey: np}, nil
		})
		switch {
		case err == nil:
			if did {
				done = append(done, room)
			}
		case errors.Is(err, ErrNotMember), errors.Is(err, ErrClosed):
		default:
			if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
				return done, err
			}
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}
