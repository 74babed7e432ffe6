package chat_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// trustHome is a home's pins and verified marks, in memory.
type trustHome struct {
	mu       sync.Mutex
	pins     map[string]string
	verified map[string]string
}

func newTrustHome() *trustHome {
	return &trustHome{pins: make(map[string]string), verified: make(map[string]string)}
}

func (h *trustHome) Pinned(u string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pins[u]
}

func (h *trustHome) Pin(u, fp string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pins[u] = fp
	return nil
}

func (h *trustHome) Verified(u string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.verified[u]
}

func (h *trustHome) SetVerified(u, fp string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fp == "" {
		delete(h.verified, u)
	} else {
		h.verified[u] = fp
	}
	return nil
}

func (h *trustHome) Repin(u, old, fp string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pins[u] != old {
		return errors.New("pin moved")
	}
	h.pins[u] = fp
	delete(h.verified, u)
	return nil
}

var _ chat.Trust = (*trustHome)(nil)

func memberOf(t *testing.T, s *chat.Service, room, user string) chat.Member {
	t.Helper()
	ms, err := s.Members(ctx(t), names.Room(room))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == user {
			return m
		}
	}
	t.Fatalf("%s is not a member of %s: %+v", user, room, ms)
	return chat.Member{}
}

// TestTrust: safety codes agree on both sides; looking at a user pins
// nothing; a verified mark shows in member lists; a changed key in etcd is
// refused with both fingerprints, and only AcceptKey replaces the pin,
// dropping the mark.
func TestTrust(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	ah := newTrustHome()
	aliceID, _ := crypto.NewIdentity("alice")
	alice, err := chat.Login(c, e.st, aliceID, chat.Options{Pins: ah})
	if err != nil {
		t.Fatal(err)
	}
	bobID, _ := crypto.NewIdentity("bob")
	bob, err := chat.Login(c, e.st, bobID, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}

	sa, err := alice.Safety(c, "Bob")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.Safety(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Code != sb.Code || sa.Code != crypto.SafetyCode(aliceID.Public(), bobID.Public()) {
		t.Fatalf("alice sees %s, bob sees %s", sa.Code, sb.Code)
	}
	if sa.User != "bob" || sa.Fingerprint != bobID.Public().Fingerprint() || sa.MyFingerprint != aliceID.Public().Fingerprint() || sa.Pinned || sa.Verified {
		t.Fatalf("alice's view before any room: %+v", sa)
	}
	// A user record merely read is never pinned.
	if fp := ah.Pinned("bob"); fp != "" {
		t.Fatalf("bob pinned from his user record: %s", fp)
	}
	if _, err := alice.Safety(c, "alice"); !errors.Is(err, chat.ErrNotAllowed) {
		t.Errorf("Safety(me) = %v, want ErrNotAllowed", err)
	}

	groupOf(t, "r", alice, bob)
	// A rotation wraps the key to bob under the key the room admitted:
	// that pins it.
	if _, err := alice.Rotate(c, "r"); err != nil {
		t.Fatal(err)
	}
	if fp := ah.Pinned("bob"); fp != sa.Fingerprint {
		t.Fatalf("after the commit admitting bob his pin is %q, want %s", fp, sa.Fingerprint)
	}
	if m := memberOf(t, alice, "r", "bob"); m.Fingerprint != sa.Fingerprint || m.Verified {
		t.Fatalf("bob in alice's list before verifying: %+v", m)
	}
	if err := alice.MarkVerified(c, "bob", "parley1-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"); !errors.Is(err, chat.ErrKeyChanged) {
		t.Errorf("MarkVerified with another fingerprint = %v, want ErrKeyChanged", err)
	}
	if err := alice.MarkVerified(c, "bob", sa.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if m := memberOf(t, alice, "r", "bob"); !m.Verified {
		t.Fatalf("bob in alice's list after verifying: %+v", m)
	}
	if s, _ := alice.Safety(c, "bob"); !s.Pinned || !s.Verified {
		t.Fatalf("alice's view after verifying: %+v", s)
	}

	// Someone with raw access replaces bob's user record.
	raw := e.raw()
	if _, err := raw.Delete(c, store.Prefix+"users/bob"); err != nil {
		t.Fatal(err)
	}
	newBob, _ := crypto.NewIdentity("bob")
	if _, err := chat.Login(c, e.st, newBob, chat.Options{}); err != nil {
		t.Fatal(err)
	}
	alice2, err := chat.Login(c, e.st, aliceID, chat.Options{Pins: ah}) // a new process of alice's home
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice2.Safety(c, "bob")
	var kc *chat.KeyChangedError
	if !errors.As(err, &kc) || !errors.Is(err, chat.ErrKeyChanged) || kc.User != "bob" || kc.Pinned != sa.Fingerprint || kc.Stored != newBob.Public().Fingerprint() {
		t.Fatalf("Safety after bob's key changed = %v, want a KeyChangedError", err)
	}
	k, err := alice2.KeyChange(c, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !k.Changed() || !k.WasVerified || k.PinnedCode != sa.Code || k.StoredCode != crypto.SafetyCode(aliceID.Public(), newBob.Public()) {
		t.Fatalf("KeyChange = %+v", k)
	}
	if fp := ah.Pinned("bob"); fp != sa.Fingerprint {
		t.Fatalf("the pin moved without being accepted: %s", fp)
	}
	if err := alice2.AcceptKey(c, "bob", sa.Fingerprint); !errors.Is(err, chat.ErrKeyChanged) {
		t.Errorf("AcceptKey of a fingerprint etcd does not hold = %v, want ErrKeyChanged", err)
	}
	if err := alice2.AcceptKey(c, "bob", k.Stored); err != nil {
		t.Fatal(err)
	}
	s, err := alice2.Safety(c, "bob")
	if err != nil || !s.Pinned || s.Verified || s.Fingerprint != k.Stored {
		t.Fatalf("after accepting: %+v, %v", s, err)
	}
	// The room still admitted the old key; the mark is gone.
	if m := memberOf(t, alice2, "r", "bob"); m.Fingerprint != sa.Fingerprint || m.Verified {
		t.Fatalf("bob in alice's list after the new key: %+v", m)
	}
	if k, err := alice2.KeyChange(c, "bob"); err != nil || k.Changed() {
		t.Fatalf("KeyChange after accepting = %+v, %v", k, err)
	}

	// A Pins that is not a Trust records no marks.
	onlyPins := struct{ chat.Pins }{newTrustHome()}
	plain, err := chat.Login(c, e.st, aliceID, chat.Options{Pins: onlyPins})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.MarkVerified(c, "bob", k.Stored); !errors.Is(err, chat.ErrNoTrust) {
		t.Errorf("MarkVerified without a Trust = %v, want ErrNoTrust", err)
	}
}
