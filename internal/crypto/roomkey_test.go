package crypto

import (
	"bytes"
	"testing"
)

func TestRoomKey(t *testing.T) {
	var zero RoomKey
	if !zero.IsZero() {
		t.Error("zero key is not IsZero")
	}
	a, b := NewRoomKey(), NewRoomKey()
	if a.IsZero() || b.IsZero() {
		t.Error("new key IsZero")
	}
	if a.Equal(b) || !a.Equal(a) {
		t.Error("Equal")
	}
	back, err := RoomKeyFromBytes(a.k[:])
	if err != nil || !back.Equal(a) {
		t.Errorf("RoomKeyFromBytes round trip: %v", err)
	}

	for _, b := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, 32)} {
		if _, err := RoomKeyFromBytes(b); err == nil {
			t.Errorf("RoomKeyFromBytes(%x) succeeded", b)
		}
	}
	in := bytes.Repeat([]byte{7}, 32)
	k, err := RoomKeyFromBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0] = 8
	if k.k[0] != 7 {
		t.Error("RoomKeyFromBytes keeps the caller's slice")
	}
}

func TestKeyLinkAndCheck(t *testing.T) {
	prev, next := NewRoomKey(), NewRoomKey()
	link, err := SealKeyLink(next, "r", 2, prev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenKeyLink(next, "r", 2, link)
	if err != nil || !got.Equal(prev) {
		t.Fatalf("OpenKeyLink = %v", err)
	}
	for _, tt := range []struct {
		name  string
		key   RoomKey
		room  string
		epoch uint32
		link  []byte
	}{
		{"other key", prev, "r", 2, link},
		{"other room", next, "s", 2, link},
		{"other epoch", next, "r", 3, link},
		{"changed", next, "r", 2, append([]byte{link[0] ^ 1}, link[1:]...)},
		{"short", next, "r", 2, link[:10]},
	} {
		if _, err := OpenKeyLink(tt.key, tt.room, tt.epoch, tt.link); err == nil {
			t.Errorf("%s: opened", tt.name)
		}
	}
	if string(KeyCheck("r", 1, prev)) == string(KeyCheck("r", 1, next)) || string(KeyCheck("r", 1, prev)) == string(KeyCheck("r", 2, prev)) {
		t.Error("key checks collide")
	}
}

// FuzzOpenKeyLink feeds arbitrary key links, as read from a commit in
// etcd, to OpenKeyLink: no panic, and nothing opens without the key.
func FuzzOpenKeyLink(f *testing.F) {
	next := NewRoomKey()
	link, _ := SealKeyLink(next, "r", 2, NewRoomKey())
	f.Add(link)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := OpenKeyLink(NewRoomKey(), "r", 2, b); err == nil {
			t.Fatal("a link opened under a random key")
		}
	})
}
