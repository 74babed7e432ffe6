package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// A LinkCode is the one-time secret that links a new device to a user's
// identity. The new device shows it; the user types it on a device that
// holds the identity. It is never stored in etcd: both sides derive from it
// where the link request lives (ID) and a key that authenticates what
// each side writes there (MAC), so a member of the cluster who reads or
// rewrites those records can neither swap the new device's keys nor hand it
// another identity.
type LinkCode [10]byte

// linkEncoding is RFC 4648 base32 without padding: 16 characters for a
// code, with no 0/1/8/9 to mistake for O, I, L or B.
var linkEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadLinkCode means a link code is not 16 base32 characters.
var ErrBadLinkCode = errors.New("a link code is 16 letters and digits, as XXXX-XXXX-XXXX-XXXX")

// NewLinkCode returns a fresh random link code (80 bits).
func NewLinkCode() LinkCode {
	var c LinkCode
	rand.Read(c[:])
	return c
}

// ParseLinkCode reads a code as String writes it, in either case, with or
// without dashes and spaces.
func ParseLinkCode(s string) (LinkCode, error) {
	var c LinkCode
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 16 {
		return c, ErrBadLinkCode
	}
	b, err := linkEncoding.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, ErrBadLinkCode
	}
	copy(c[:], b)
	return c, nil
}

// String returns the code as four groups of four characters.
func (c LinkCode) String() string {
	s := linkEncoding.EncodeToString(c[:])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

func (c LinkCode) derive(label string, n int) []byte {
	k, err := hkdf.Key(sha256.New, c[:], nil, "parley/v2/link/"+label, n)
	if err != nil {
		panic(err) // n is small and fixed
	}
	return k
}

// ID returns where the link request of this code lives: 16 hex digits.
func (c LinkCode) ID() string { return hex.EncodeToString(c.derive("id", 8)) }

// MAC authenticates parts under this code, for the given label (one per
// direction of the link, so an answer never passes for a request).
func (c LinkCode) MAC(label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, c.derive("mac", 32))
	lp := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	lp([]byte(label))
	for _, p := range parts {
		lp(p)
	}
	return m.Sum(nil)
}

// CheckMAC reports whether mac is c.MAC(label, parts...), in constant time.
func (c LinkCode) CheckMAC(mac []byte, label string, parts ...[]byte) bool {
	return hmac.Equal(mac, c.MAC(label, parts...))
}
