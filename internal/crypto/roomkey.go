package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
)

// RoomKeySize is the size of a room key in bytes.
const RoomKeySize = 32

// A RoomKey is the symmetric key that encrypts a room's messages during one
// epoch. Members receive it wrapped to their identity (see WrapKeys).
//
// The zero RoomKey is not a key: it is rejected wherever a key is needed.
type RoomKey struct {
	_ [0]func() // not comparable: use Equal
	k [RoomKeySize]byte
}

// NewRoomKey returns a new random room key.
func NewRoomKey() RoomKey {
	var k RoomKey
	rand.Read(k.k[:]) // never returns an error
	return k
}

// RoomKeyFromBytes returns the room key with the given 32 bytes. It rejects
// input of the wrong length and the all-zero key.
func RoomKeyFromBytes(b []byte) (RoomKey, error) {
	var k RoomKey
	if len(b) != RoomKeySize {
		return k, fmt.Errorf("room key is %d bytes, want %d", len(b), RoomKeySize)
	}
	copy(k.k[:], b)
	if k.IsZero() {
		return k, errZeroKey
	}
	return k, nil
}

// IsZero reports whether k is the zero RoomKey, which is not a usable key.
func (k RoomKey) IsZero() bool {
	var zero [RoomKeySize]byte
	return subtle.ConstantTimeCompare(k.k[:], zero[:]) == 1
}

// Equal reports, in constant time, whether k and o are the same key.
func (k RoomKey) Equal(o RoomKey) bool {
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

var errZeroKey = errors.New("room key is zero")
