package crypto

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
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

// KeyCheckSize is the size of a key check.
const KeyCheckSize = 32

// KeyCheck returns a commitment to the key of epoch in room:
// SHA-256(lp(labelKeyCheck) || lp(room) || epoch || key). A membership
// commit carries it, so a member who opens a wrap can tell that the key
// inside is the one the commit's signer chose, without any signature on the
// wrap itself. It reveals nothing of the key.
func KeyCheck(room string, epoch uint32, k RoomKey) []byte {
	var stack [128]byte
	b := appendLP(stack[:0], labelKeyCheck)
	b = appendLP(b, room)
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = append(b, k.k[:]...)
	sum := sha256.Sum256(b)
	clear(b)
	return sum[:]
}

// keyLinkSize is the size of a sealed key link: a key and the AEAD tag.
const keyLinkSize = RoomKeySize + chacha20poly1305.Overhead

// SealKeyLink seals prev, the key of epoch-1, under next, the key of epoch,
// so that whoever holds the newest key can walk back to every older one:
// a newcomer reads the room's whole history from one wrap. The AEAD key is
// derived from next with its own label, and the nonce from room and epoch
// (each derived key seals exactly one link).
func SealKeyLink(next RoomKey, room string, epoch uint32, prev RoomKey) ([]byte, error) {
	if next.IsZero() || prev.IsZero() {
		return nil, fmt.Errorf("seal key link: %w", errZeroKey)
	}
	aead, nonce, ad := keyLinkAEAD(next, room, epoch)
	return aead.Seal(nil, nonce, prev.k[:], ad), nil
}

// OpenKeyLink opens a link made by SealKeyLink and returns the key of
// epoch-1. It returns an error wrapping ErrDecrypt if next, room or epoch
// is wrong or the link was changed.
func OpenKeyLink(next RoomKey, room string, epoch uint32, link []byte) (RoomKey, error) {
	var k RoomKey
	if len(link) != keyLinkSize {
		return k, fmt.Errorf("%w: key link is %d bytes", ErrMalformed, len(link))
	}
	if next.IsZero() {
		return k, fmt.Errorf("%w: %v", ErrDecrypt, errZeroKey)
	}
	aead, nonce, ad := keyLinkAEAD(next, room, epoch)
	pt, err := aead.Open(nil, nonce, link, ad)
	if err != nil {
		return k, fmt.Errorf("%w: key link of epoch %d", ErrDecrypt, epoch)
	}
	defer clear(pt)
	copy(k.k[:], pt)
	if k.IsZero() {
		return k, fmt.Errorf("%w: key link of epoch %d: %v", ErrMalformed, epoch, errZeroKey)
	}
	return k, nil
}

func keyLinkAEAD(next RoomKey, room string, epoch uint32) (cipher.AEAD, []byte, []byte) {
	ad := appendLP(nil, labelKeyLink)
	ad = appendLP(ad, room)
	ad = binary.BigEndian.AppendUint32(ad, epoch)
	mac := hmac.New(sha256.New, next.k[:])
	mac.Write(ad)
	sub := mac.Sum(nil)
	defer clear(sub)
	aead, err := chacha20poly1305.NewX(sub)
	if err != nil {
		panic("crypto: key link: " + err.Error()) // 32-byte key: cannot happen
	}
	nonce := sha256.Sum256(append([]byte("nonce\x00"), ad...))
	return aead, nonce[:chacha20poly1305.NonceSizeX], ad
}
