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
