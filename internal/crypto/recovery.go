package crypto

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// A RecoveryCode is a user's paper key: made when the user registers,
// shown once, and kept by the user away from their devices. The keys it
// derives (RecoveryIdentity) can certify a new device of the user when
// every device is lost; the user's record in etcd holds only its public
// signing key.
type RecoveryCode [20]byte

// ErrBadRecoveryCode means a recovery code is not 32 base32 characters.
var ErrBadRecoveryCode = errors.New("a recovery code is 32 letters and digits, in 8 groups of 4")

// NewRecoveryCode returns a fresh random recovery code (160 bits).
func NewRecoveryCode() RecoveryCode {
	var c RecoveryCode
	rand.Read(c[:])
	return c
}

// ParseRecoveryCode reads a code as String writes it, in either case, with
// or without dashes and spaces.
func ParseRecoveryCode(s string) (RecoveryCode, error) {
	var c RecoveryCode
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(s) != 32 {
		return c, ErrBadRecoveryCode
	}
	b, err := linkEncoding.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, ErrBadRecoveryCode
	}
	copy(c[:], b)
	return c, nil
}

// String returns the code as eight groups of four characters.
func (c RecoveryCode) String() string {
	s := linkEncoding.EncodeToString(c[:])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// RecoveryIdentity returns the keys the code derives for the user name:
// the same code always gives the same keys, and another name other keys.
func (c RecoveryCode) RecoveryIdentity(name string) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	seed := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, c[:], []byte(name), "parley/v2/recovery/"+label, seedSize)
	}
	s, err := seed("signing")
	if err != nil {
		return nil, err
	}
	k, err := seed("kem")
	if err != nil {
		return nil, err
	}
	return newIdentityFromSeeds(name, s, k)
}

// A SigningKey is the public half of an Ed25519 key that signs for a user
// without being their identity, such as a recovery key. It checks
// signatures made by Identity.Sign.
type SigningKey struct {
	name string
	key  ed25519.PublicKey
}

// NewSigningKey returns the signing key of the user name with Ed25519
// public key key (32 bytes).
func NewSigningKey(name string, key []byte) (*SigningKey, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("signing key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	return &SigningKey{name: name, key: ed25519.PublicKey(clone(key))}, nil
}

// Name returns the user name the key signs for.
func (k *SigningKey) Name() string { return k.name }

// Verify reports whether sig is the key's signature of msg under label.
func (k *SigningKey) Verify(label string, msg, sig []byte) bool {
	p := PublicIdentity{name: k.name, signing: k.key}
	return p.Verify(label, msg, sig)
}
