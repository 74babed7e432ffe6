package store

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

type testSigner struct {
	name string
	priv ed25519.PrivateKey
}

func newSigner(name string) *testSigner {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	return &testSigner{name: name, priv: ed25519.NewKeyFromSeed(seed)}
}

func (s *testSigner) Name() string { return s.name }
func (s *testSigner) Sign(label string, msg []byte) []byte {
	return ed25519.Sign(s.priv, append([]byte(label+"\x00"), msg...))
}
func (s *testSigner) Verify(label string, msg, sig []byte) bool {
	return ed25519.Verify(s.priv.Public().(ed25519.PublicKey), append([]byte(label+"\x00"), msg...), sig)
}

func TestRecordRoundTripAndBinding(t *testing.T) {
	alice, bob := newSigner("alice"), newSigner("bob")
	w := Wrap{Epoch: 3, User: "bob", Sealed: []byte("sealed"), Created: time.Unix(1, 0).UTC()}
	key := wrapKey("general", 3, "bob")
	val, err := seal(KindWrap, key, w, alice)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := parseStateKey(strings.TrimPrefix(key, statePrefix("general")))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeState(key, sk, val, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.(*Signed[Wrap])
	if got.Signer != "alice" || got.Body.User != "bob" || string(got.Body.Sealed) != "sealed" {
		t.Fatalf("decoded %+v", got)
	}
	if err := got.Verify(alice); err != nil {
		t.Fatalf("Verify(alice) = %v", err)
	}
	if err := got.Verify(bob); !errors.Is(err, ErrBadRecordSignature) {
		t.Fatalf("Verify(bob) = %v, want ErrBadRecordSignature", err)
	}

	// The same bytes at another key (another room, another epoch) do not
	// verify or do not decode.
	for _, other := range []string{wrapKey("random", 3, "bob"), wrapKey("general", 2, "bob"), wrapKey("general", 3, "carol")} {
		sk, _ := parseStateKey(other[strings.Index(other, "/s/")+3:])
		r, err := decodeState(other, sk, val, 1, 1)
		if err != nil {
			continue // body no longer matches the key
		}
		if err := r.(*Signed[Wrap]).Verify(alice); err == nil {
			t.Errorf("record moved to %s still verifies", other)
		}
	}
	// A record of one kind is not accepted as another.
	if _, err := open[Left](KindLeft, key, val, 1, 1); !errors.Is(err, ErrBadRecord) {
		t.Errorf("wrap decoded as left: %v", err)
	}
}

func TestParseStateKey(t *testing.T) {
	tests := []struct {
		in   string
		kind string
		ok   bool
	}{
		{"version", "version", true},
		{"epoch/0000000001", "epoch", true},
		{"epoch/1", "", false},
		{"epoch/0000000000", "", false},
		{"wrap/0000000002/bob", "wrap", true},
		{"wrap/0000000002/Bob", "", false},
		{"wrap/0000000002", "", false},
		{"left/0000000002/bob", "left", true},
		{"request/bob", "request", true},
		{"request/bob/x", "", false},
		{"denial/a b", "", false},
		{"other", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		sk, err := parseStateKey(tt.in)
		if (err == nil) != tt.ok || sk.kind != tt.kind {
			t.Errorf("parseStateKey(%q) = %+v, %v; want kind %q ok=%v", tt.in, sk, err, tt.kind, tt.ok)
		}
	}
}

func TestKeysAreNewestFirst(t *testing.T) {
	if !validID("0123456789abcdef0123456789abcdef") || validID("0123456789ABCDEF0123456789abcdef") || validID("xyz") {
		t.Fatal("validID accepts or refuses the wrong ids")
	}
	if msgKey("r", "00") >= msgKey("r", "01") {
		t.Fatal("message keys do not sort by id")
	}
	if !strings.HasPrefix(epochKey("r", 2), statePrefix("r")) || strings.HasPrefix(msgKey("r", "x"), statePrefix("r")) {
		t.Fatal("state and message prefixes overlap")
	}
	if strings.HasPrefix(roomPrefix("ab"), roomPrefix("a")) {
		t.Fatal("room prefixes collide")
	}
}

// FuzzDecodeState feeds arbitrary keys and values to the decoders of room
// state read from etcd: they must never panic, and whatever decodes must
// match its key.
func FuzzDecodeState(f *testing.F) {
	alice := newSigner("alice")
	for _, seed := range []struct {
		key string
		val func() []byte
	}{
		{"wrap/0000000001/bob", func() []byte {
			v, _ := seal(KindWrap, wrapKey("r", 1, "bob"), Wrap{Epoch: 1, User: "bob", Sealed: []byte{1}}, alice)
			return v
		}},
		{"epoch/0000000002", func() []byte {
			v, _ := seal(KindEpoch, epochKey("r", 2), Epoch{Epoch: 2, Reason: "x"}, alice)
			return v
		}},
		{"request/alice", func() []byte {
			v, _ := seal(KindRequest, requestKey("r", "alice"), Request{User: "alice"}, alice)
			return v
		}},
		{"left/0000000001/alice", func() []byte {
			v, _ := seal(KindLeft, leftKey("r", 1, "alice"), Left{Epoch: 1, User: "alice"}, alice)
			return v
		}},
		{"denial/bob", func() []byte { return []byte(`{"kind":"denial"}`) }},
	} {
		f.Add(seed.key, seed.val())
	}
	f.Fuzz(func(t *testing.T, rest string, value []byte) {
		sk, err := parseStateKey(rest)
		if err != nil {
			return
		}
		key := statePrefix("r") + rest
		rec, err := decodeState(key, sk, value, 1, 1)
		if err != nil {
			return
		}
		switch r := rec.(type) {
		case *Signed[Wrap]:
			if r.Body.User != sk.user || r.Body.Epoch != sk.epoch {
				t.Fatalf("wrap %+v decoded at %s", r.Body, key)
			}
		case *Signed[Left]:
			if r.Body.User != sk.user || r.Body.Epoch != sk.epoch {
				t.Fatalf("left %+v decoded at %s", r.Body, key)
			}
		case *Signed[Request]:
			if r.Signer != sk.user {
				t.Fatalf("request by %s decoded at %s", r.Signer, key)
			}
		}
	})
}

// FuzzDecodeRoomAndUser covers the decoders of room and user records.
func FuzzDecodeRoomAndUser(f *testing.F) {
	alice := newSigner("alice")
	rv, _ := seal(KindRoom, roomKey("general"), Room{Name: "general", Kind: RoomGroup, Creator: "alice"}, alice)
	f.Add("general", rv)
	dv, _ := seal(KindRoom, roomKey("@alice+bob"), Room{Name: "@alice+bob", Kind: RoomDirect, Creator: "alice", Members: []string{"alice", "bob"}}, alice)
	f.Add("@alice+bob", dv)
	uv, _ := seal(KindUser, userKey("alice"), User{Name: "alice", SigningKey: []byte{1}, KEMKey: []byte{2}}, alice)
	f.Add("alice", uv)
	f.Fuzz(func(t *testing.T, name string, value []byte) {
		if checkRoom(name) == nil {
			if r, err := decodeRoom(roomKey(name), name, value, 1, 1); err == nil {
				if r.Body.Name != name || r.Signer != r.Body.Creator {
					t.Fatalf("room %+v decoded for %q", r.Body, name)
				}
				if r.Body.Kind == RoomDirect && len(r.Body.Members) != 2 {
					t.Fatalf("direct room with members %v", r.Body.Members)
				}
			}
		}
		if checkUser(name) == nil {
			if u, err := decodeUser(userKey(name), name, value, 1, 1); err == nil && (u.Body.Name != name || u.Signer != name) {
				t.Fatalf("user %+v decoded for %q", u.Body, name)
			}
		}
	})
}
