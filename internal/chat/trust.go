package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
)

// Trust in other users' keys.
//
// A user's key is pinned in the home from the first room commit that
// admitted it (see userKey), or when the user says they compared it out of
// band (MarkVerified). A key in etcd that differs from the pin is never
// used: it is reported as a *KeyChangedError, and only the user replaces
// the pin (AcceptKey), after comparing safety codes. Verified marks name
// the key they were made for, so a mark never carries over to a new key.

// Trust is a Pins that also remembers which users' keys were compared out
// of band, and can replace a pin. The Pins given to Login may implement it;
// without it (nil Pins gives one in memory) the verify and trust methods
// fail with ErrNoTrust. Implementations must be safe for concurrent use.
type Trust interface {
	Pins
	// Verified returns the fingerprint user was last marked verified
	// with, or "" if none.
	Verified(user string) string
	// SetVerified records that user's key with the given fingerprint was
	// compared out of band; "" clears the mark.
	SetVerified(user, fingerprint string) error
	// Repin replaces user's pin, which must still be old, with
	// fingerprint, and clears user's verified mark. It fails if user's pin
	// is not old.
	Repin(user, old, fingerprint string) error
}

// ErrNoTrust means the Pins of the service cannot record verified users.
var ErrNoTrust = errors.New("this home does not record verified users")

// KeyChangedError is a user record in etcd whose key is not the one this
// home pinned for the user. It wraps ErrKeyChanged.
type KeyChangedError struct {
	User   string // whose key changed
	Pinned string // fingerprint this home pinned
	Stored string // fingerprint of the key etcd now holds
}

func (e *KeyChangedError) Error() string {
	return fmt.Sprintf("the key stored for %s in etcd is not the one this home pinned (pinned %s, etcd now holds %s)", e.User, e.Pinned, e.Stored)
}

func (e *KeyChangedError) Unwrap() error { return ErrKeyChanged }

// Safety is what two users compare out of band: the safety code of their
// pair and the fingerprints it covers.
type Safety struct {
	User          string `json:"user"`
	Fingerprint   string `json:"fingerprint"` // of the key of User the code covers
	Me            string `json:"me"`
	MyFingerprint string `json:"my_fingerprint"`
	Code          string `json:"safety_code"` // 12 groups of five digits
	Pinned        bool   `json:"pinned"`      // this home pinned that key
	Verified      bool   `json:"verified"`    // and marked it verified
}

// KeyChange compares the key this home pinned for a user with the one
// etcd holds now.
type KeyChange struct {
	User        string `json:"user"`
	Pinned      string `json:"pinned"`                // fingerprint pinned; "" if none
	Stored      string `json:"stored"`                // fingerprint of the key in etcd
	PinnedCode  string `json:"pinned_code,omitempty"` // safety code with the pinned key
	StoredCode  string `json:"stored_code"`           // safety code with the key in etcd
	WasVerified bool   `json:"was_verified"`          // the pinned key was marked verified
}

// Changed reports whether etcd holds another key than the one pinned.
func (k KeyChange) Changed() bool { return k.Pinned != "" && k.Pinned != k.Stored }

// trust returns the service's Trust, or nil.
func (s *Service) trust() Trust {
	t, _ := s.pins.(Trust)
	return t
}

// isVerified reports whether user was marked verified with the key of
// fingerprint fp.
func (s *Service) isVerified(user, fp string) bool {
	t := s.trust()
	return t != nil && fp != "" && t.Verified(user) == fp
}

// other checks that name is a user name and not mine.
func (s *Service) other(name string) (string, error) {
	u, err := names.ParseUser(name)
	if err != nil {
		return "", err
	}
	n := string(u)
	if n == s.me.Name() {
		return "", fmt.Errorf("%w: %s is you: compare your key with someone else's", ErrNotAllowed, n)
	}
	return n, nil
}

// Safety returns the safety code of me and user, over the key of user
// that this home uses: the pinned one, or, if none is pinned yet, the one
// etcd holds (Pinned is then false). A key in etcd that differs from the
// pin is a *KeyChangedError: see KeyChange.
func (s *Service) Safety(ctx context.Context, user string) (Safety, error) {
	n, err := s.other(user)
	if err != nil {
		return Safety{}, err
	}
	p, err := s.User(ctx, n)
	if err != nil {
		return Safety{}, err
	}
	fp := p.Fingerprint()
	return Safety{
		User: n, Fingerprint: fp, Me: s.me.Name(), MyFingerprint: s.Fingerprint(),
		Code:     crypto.SafetyCode(s.me.Public(), p),
		Pinned:   s.pins.Pinned(n) == fp,
		Verified: s.isVerified(n, fp),
	}, nil
}

// MarkVerified records that the user compared the safety code over user's
// key with fingerprint fp (as Safety returned it) and that it matched. A
// key not pinned yet is pinned: the user vouches for it. It fails if etcd
// no longer holds that key.
func (s *Service) MarkVerified(ctx context.Context, user, fp string) error {
	t := s.trust()
	if t == nil {
		return ErrNoTrust
	}
	n, err := s.other(user)
	if err != nil {
		return err
	}
	p, err := s.User(ctx, n)
	if err != nil {
		return err
	}
	if got := p.Fingerprint(); got != fp {
		return fmt.Errorf("%w: the key stored for %s is now %s, not the %s compared", ErrKeyChanged, n, got, fp)
	}
	if err := s.pin(n, p); err != nil {
		return err
	}
	if err := t.SetVerified(n, fp); err != nil {
		return fmt.Errorf("mark %s verified: %w", n, err)
	}
	s.log.Info("user marked verified", "user", n, "fingerprint", fp)
	return nil
}

// Unverify removes user's verified mark. The pin stays.
func (s *Service) Unverify(user string) error {
	t := s.trust()
	if t == nil {
		return ErrNoTrust
	}
	n, err := s.other(user)
	if err != nil {
		return err
	}
	if err := t.SetVerified(n, ""); err != nil {
		return fmt.Errorf("unmark %s: %w", n, err)
	}
	return nil
}

// KeyChange reads the key etcd holds for user, checking only the record's
// own signature, and compares it with the pin: what to show before
// AcceptKey. It pins nothing.
func (s *Service) KeyChange(ctx context.Context, user string) (KeyChange, error) {
	n, err := s.other(user)
	if err != nil {
		return KeyChange{}, err
	}
	p, err := s.storedKey(ctx, n)
	if err != nil {
		return KeyChange{}, err
	}
	k := KeyChange{User: n, Pinned: s.pins.Pinned(n), Stored: p.Fingerprint(), StoredCode: crypto.SafetyCode(s.me.Public(), p)}
	if k.Pinned != "" {
		k.WasVerified = s.isVerified(n, k.Pinned)
		if code, err := crypto.SafetyCodeOf(s.me.Name(), s.Fingerprint(), n, k.Pinned); err == nil {
			k.PinnedCode = code
		}
	}
	return k, nil
}

// AcceptKey replaces the pin of user with the key etcd holds, which must
// have fingerprint fp (as KeyChange returned it): the user compared the
// new safety code out of band, or accepts the risk. The verified mark of
// the old key is dropped. A user with no pin, or whose pin is already fp,
// is left as is.
//
// Rooms keep the key their commits admitted: in a room that admitted the
// old key, the new one counts only once a member removes the user and
// approves them again.
func (s *Service) AcceptKey(ctx context.Context, user, fp string) error {
	t := s.trust()
	if t == nil {
		return ErrNoTrust
	}
	k, err := s.KeyChange(ctx, user)
	if err != nil {
		return err
	}
	if k.Stored != fp {
		return fmt.Errorf("%w: the key stored for %s is now %s, not the %s shown", ErrKeyChanged, k.User, k.Stored, fp)
	}
	if !k.Changed() {
		return nil
	}
	if err := t.Repin(k.User, k.Pinned, fp); err != nil {
		return fmt.Errorf("accept the new key of %s: %w", k.User, err)
	}
	s.mu.Lock()
	delete(s.users, k.User)
	s.mu.Unlock()
	s.log.Warn("changed key accepted", "user", k.User, "old", k.Pinned, "new", fp)
	return nil
}

// storedKey returns the key etcd holds for user, whose record must verify
// under it, whatever the pin says.
func (s *Service) storedKey(ctx context.Context, user string) (*crypto.PublicIdentity, error) {
	found, bad, err := s.st.Users(ctx, []names.User{names.User(user)})
	if err != nil {
		return nil, err
	}
	if e := bad[user]; e != nil {
		return nil, fmt.Errorf("user record of %q: %w", user, e)
	}
	rec, ok := found[user]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoUser, user)
	}
	p, err := crypto.NewPublicIdentity(user, rec.Body.SigningKey, rec.Body.KEMKey)
	if err != nil {
		return nil, fmt.Errorf("user record of %q: %w", user, err)
	}
	if err := rec.Verify(p); err != nil {
		return nil, err
	}
	return p, nil
}

// The in-memory Pins is a Trust too.

func (p *memPins) Verified(u string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v[u]
}

func (p *memPins) SetVerified(u, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.v == nil {
		p.v = make(map[string]string)
	}
	if fp == "" {
		delete(p.v, u)
	} else {
		p.v[u] = fp
	}
	return nil
}

func (p *memPins) Repin(u, old, fp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[u] != old {
		return fmt.Errorf("the pin of %s is no longer %s", u, old)
	}
	p.m[u] = fp
	delete(p.v, u)
	return nil
}

var _ Trust = (*memPins)(nil)
