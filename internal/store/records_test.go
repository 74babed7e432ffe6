package store

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/names"
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
	c := Commit{Room: "general", N: 3, Prev: []byte{1}, Op: OpRotate, Epoch: 2, KeyCheck: make([]byte, 32), WrapTag: "ab", Wraps: 1, Roster: []byte{2}, Count: 1, Time: time.Unix(1, 0).UTC()}
	key := commitKey("general", 3)
	val, err := seal(KindCommit, key, c, alice)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCommit(key, "general", 3, val, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Signer != "alice" || got.Body.Op != OpRotate || got.Body.WrapTag != "ab" {
		t.Fatalf("decoded %+v", got)
	}
	if err := got.Verify(alice); err != nil {
		t.Fatalf("Verify(alice) = %v", err)
	}
	if err := got.Verify(bob); !errors.Is(err, ErrBadRecordSignature) {
		t.Fatalf("Verify(bob) = %v, want ErrBadRecordSignature", err)
	}
	// The same bytes at another key (another room, another number) do not
	// decode, or do not verify.
	for _, other := range []struct {
		room names.Room
		n    uint64
	}{{"random", 3}, {"general", 4}} {
		r, err := decodeCommit(commitKey(other.room, other.n), string(other.room), other.n, val, 1, 1)
		if err == nil {
			if r.Verify(alice) == nil {
				t.Errorf("commit moved to %s/%d still verifies", other.room, other.n)
			}
		}
	}
	// A record of one kind is not accepted as another.
	if _, err := open[Request](KindRequest, key, val, 1, 1); !errors.Is(err, ErrBadRecord) {
		t.Errorf("commit decoded as request: %v", err)
	}
	// Digests tell records apart by key and bytes.
	got2, _ := decodeCommit(key, "general", 3, val, 5, 9)
	if string(got.Digest()) != string(got2.Digest()) {
		t.Error("the digest depends on revisions")
	}
}

func TestParseKeys(t *testing.T) {
	for _, tt := range []struct {
		in string
		n  uint64
		ok bool
	}{
		{"0000000001", 1, true},
		{"1", 0, false},
		{"0000000000", 0, false},
		{"000000000x", 0, false},
		{"00000000011", 0, false},
	} {
		n, err := parseCommitKey(tt.in)
		if (err == nil) != tt.ok || n != tt.n {
			t.Errorf("parseCommitKey(%q) = %d, %v; want %d ok=%v", tt.in, n, err, tt.n, tt.ok)
		}
	}
	for _, tt := range []struct {
		in string
		ok bool
	}{{"bob", true}, {"Bob", false}, {"bob/x", false}, {"", false}} {
		if _, err := parseRequestKey(tt.in); (err == nil) != tt.ok {
			t.Errorf("parseRequestKey(%q) = %v, want ok=%v", tt.in, err, tt.ok)
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
	if commitKey("r", 9) >= commitKey("r", 10) {
		t.Fatal("commit keys do not sort by number")
	}
	if strings.HasPrefix(msgKey("r", "x"), commitPrefix("r")) || strings.HasPrefix(wrapKey("r", 1, "a", "b", "c"), commitPrefix("r")) {
		t.Fatal("prefixes overlap")
	}
	if strings.HasPrefix(roomPrefix("ab"), roomPrefix("a")) {
		t.Fatal("room prefixes collide")
	}
}

// FuzzDecodeState feeds arbitrary keys and values to the decoders of room
// state read from etcd (commits and join requests): they must never panic,
// and whatever decodes must match its key.
func FuzzDecodeState(f *testing.F) {
	alice := newSigner("alice")
	cv, _ := seal(KindCommit, commitKey("r", 2), Commit{Room: "r", N: 2, Op: OpAdd, Users: []Entry{{User: "bob", Key: "k", Devices: []string{"ab"}, Request: []byte{1}}}, Epoch: 1}, alice)
	f.Add("c/0000000002", cv)
	rv, _ := seal(KindRequest, requestKey("r", "alice"), Request{User: "alice", Key: "k"}, alice)
	f.Add("q/alice", rv)
	f.Add("c/0000000001", []byte(`{"kind":"commit"}`))
	f.Fuzz(func(t *testing.T, rest string, value []byte) {
		switch {
		case strings.HasPrefix(rest, "c/"):
			n, err := parseCommitKey(rest[2:])
			if err != nil {
				return
			}
			r, err := decodeCommit(commitKey("r", n), "r", n, value, 1, 1)
			if err != nil {
				return
			}
			if r.Body.N != n || r.Body.Room != "r" {
				t.Fatalf("commit %+v decoded at %s", r.Body, rest)
			}
			for _, e := range r.Body.Users {
				if !validUser(e.User) {
					t.Fatalf("commit names bad user %q", e.User)
				}
			}
		case strings.HasPrefix(rest, "q/"):
			u, err := parseRequestKey(rest[2:])
			if err != nil {
				return
			}
			r, err := decodeRequest(requestKey("r", u), string(u), value, 1, 1)
			if err != nil {
				return
			}
			if r.Signer != string(u) || r.Body.User != string(u) {
				t.Fatalf("request by %s decoded at %s", r.Signer, rest)
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
		if room, err := parseRoom(name); err == nil {
			if r, err := decodeRoom(roomKey(room), name, value, 1, 1); err == nil {
				if r.Body.Name != name || r.Signer != r.Body.Creator {
					t.Fatalf("room %+v decoded for %q", r.Body, name)
				}
				if r.Body.Kind == RoomDirect && len(r.Body.Members) != 2 {
					t.Fatalf("direct room with members %v", r.Body.Members)
				}
			}
		}
		if user, err := parseUser(name); err == nil {
			if u, err := decodeUser(userKey(user), name, value, 1, 1); err == nil && (u.Body.Name != name || u.Signer != name) {
				t.Fatalf("user %+v decoded for %q", u.Body, name)
			}
		}
	})
}

// FuzzParseHeadHint covers the decoder of the unsigned head hints that
// room lists read.
func FuzzParseHeadHint(f *testing.F) {
	f.Add([]byte(headHint(12, 3)))
	f.Add([]byte("x y"))
	f.Fuzz(func(t *testing.T, v []byte) {
		n, count, ok := parseHeadHint(v)
		if ok && headHint(n, int(count)) != string(v) && len(v) < 40 {
			// Leading zeros or signs parse but print differently: fine,
			// as long as nothing panics and the values are in range.
			if count > 1<<32 {
				t.Fatalf("count %d out of range", count)
			}
		}
	})
}
