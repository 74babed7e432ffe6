package crypto

import (
	"crypto/hpke"
	"crypto/mlkem"
	"errors"
	"fmt"
)

// MaxEpochs is the largest number of room keys one wrap can carry, and so
// the number of epochs a room can go through.
const MaxEpochs = 1 << 14

// A wrap is laid out as
//
//	version  1 byte, wrapVersion
//	enc      1120 bytes, the HPKE encapsulated key
//	sealed   32*N + 16 bytes, the N room keys, concatenated, sealed by HPKE
//
// HPKE runs in base mode with MLKEM768-X25519, HKDF-SHA256 and
// ChaCha20-Poly1305, and info lp("parley/v1/room-key-wrap") || info.
const (
	wrapVersion = 0x01
	wrapEncSize = mlkem.CiphertextSize768 + 32
	wrapTagSize = 16
	// wrapOverhead is the size of a wrap less the keys it carries.
	wrapOverhead = 1 + wrapEncSize + wrapTagSize
)

// WrapKeys seals the room keys to the recipient's KEM key, so that only that
// recipient can read them. keys[i] is the key of epoch i+1: a wrap made for
// epoch N carries the keys of epochs 1 to N, so a new member can read the
// room's whole history.
//
// info binds the wrap to its context, such as the room, epoch and
// recipient; UnwrapKeys must be given the same info. The result is
// 1137 + 32*len(keys) bytes long.
func WrapKeys(to *PublicIdentity, info []byte, keys []RoomKey) ([]byte, error) {
	if to == nil {
		return nil, errors.New("wrap room keys: no recipient")
	}
	if len(keys) == 0 {
		return nil, errors.New("wrap room keys: no keys")
	}
	if len(keys) > MaxEpochs {
		return nil, fmt.Errorf("wrap room keys: %d keys, more than %d: %w", len(keys), MaxEpochs, ErrTooLarge)
	}
	plaintext := make([]byte, 0, len(keys)*RoomKeySize)
	for i, k := range keys {
		if k.IsZero() {
			return nil, fmt.Errorf("wrap room keys: key of epoch %d: %w", i+1, errZeroKey)
		}
		plaintext = append(plaintext, k.k[:]...)
	}
	defer clear(plaintext)

	enc, sender, err := hpke.NewSender(to.kem, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), wrapInfo(info))
	if err != nil {
		return nil, fmt.Errorf("wrap room keys: %w", err)
	}
	out := make([]byte, 0, wrapOverhead+len(plaintext))
	out = append(out, wrapVersion)
	out = append(out, enc...)
	sealed, err := sender.Seal(nil, plaintext)
	if err != nil {
		return nil, fmt.Errorf("wrap room keys: %w", err)
	}
	return append(out, sealed...), nil
}

// UnwrapKeys opens a wrap made by WrapKeys for id's public identity with the
// same info, and returns the room keys it carries, the key of epoch 1 first.
// It returns an error wrapping ErrMalformed if wrapped is not a well-formed
// wrap, and ErrDecrypt if it was made for another recipient or another info,
// or was changed.
func (id *Identity) UnwrapKeys(info []byte, wrapped []byte) ([]RoomKey, error) {
	if len(wrapped) == 0 || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: unknown room key wrap version", ErrMalformed)
	}
	n := len(wrapped) - wrapOverhead
	if n <= 0 || n%RoomKeySize != 0 {
		return nil, fmt.Errorf("%w: room key wrap is %d bytes", ErrMalformed, len(wrapped))
	}
	if n/RoomKeySize > MaxEpochs {
		return nil, fmt.Errorf("%w: room key wrap holds %d keys, more than %d", ErrTooLarge, n/RoomKeySize, MaxEpochs)
	}
	plaintext, err := hpke.Open(id.kem, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), wrapInfo(info), wrapped[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: room key wrap: %v", ErrDecrypt, err)
	}
	defer clear(plaintext)
	if len(plaintext) != n {
		return nil, fmt.Errorf("%w: room key wrap", ErrMalformed)
	}
	keys := make([]RoomKey, n/RoomKeySize)
	for i := range keys {
		copy(keys[i].k[:], plaintext[i*RoomKeySize:])
		if keys[i].IsZero() {
			return nil, fmt.Errorf("%w: room key wrap: key of epoch %d: %v", ErrMalformed, i+1, errZeroKey)
		}
	}
	return keys, nil
}

func wrapInfo(info []byte) []byte {
	b := make([]byte, 0, lpLen(labelRoomKeyWrap)+len(info))
	b = appendLP(b, labelRoomKeyWrap)
	return append(b, info...)
}
