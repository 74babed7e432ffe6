package crypto

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// kemPublicKeySize is the size of an MLKEM768-X25519 public key: an ML-KEM-768
// encapsulation key followed by an X25519 point.
const kemPublicKeySize = 1184 + 32

// seedSize is the size of both private key seeds: Ed25519's RFC 8032 seed and
// MLKEM768-X25519's private key.
const seedSize = 32

// An Identity is a user's private keys: an Ed25519 key that signs their
// messages and an MLKEM768-X25519 key that room keys are wrapped to. It is
// created by NewIdentity and stored with MarshalKeystore.
type Identity struct {
	name    string
	signing ed25519.PrivateKey
	kem     hpke.PrivateKey
	public  *PublicIdentity
}

// NewIdentity returns a new identity for the user name, with fresh keys.
// The name must be 1 to MaxNameBytes bytes long.
func NewIdentity(name string) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	_, signing, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	kem, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate kem key: %w", err)
	}
	return newIdentity(name, signing, kem)
}

// newIdentityFromSeeds rebuilds an identity from its two private key seeds,
// as stored in a keystore.
func newIdentityFromSeeds(name string, signingSeed, kemSeed []byte) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(signingSeed) != seedSize || len(kemSeed) != seedSize {
		return nil, errors.New("private key seeds must be 32 bytes")
	}
	kem, err := hpke.MLKEM768X25519().NewPrivateKey(kemSeed)
	if err != nil {
		return nil, fmt.Errorf("kem private key: %w", err)
	}
	return newIdentity(name, ed25519.NewKeyFromSeed(signingSeed), kem)
}

func newIdentity(name string, signing ed25519.PrivateKey, kem hpke.PrivateKey) (*Identity, error) {
	pub, err := NewPublicIdentity(name, signing.Public().(ed25519.PublicKey), kem.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	return &Identity{name: name, signing: signing, kem: kem, public: pub}, nil
}

// seeds returns the identity's private key seeds.
func (id *Identity) seeds() (signingSeed, kemSeed []byte, err error) {
	kemSeed, err = id.kem.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("kem private key: %w", err)
	}
	return id.signing.Seed(), kemSeed, nil
}

// Name returns the user name the identity belongs to.
func (id *Identity) Name() string { return id.name }

// Public returns the identity's public half. It returns the same value on
// every call.
func (id *Identity) Public() *PublicIdentity { return id.public }

// A PublicIdentity is the public half of an Identity: what other users know
// of a user, and what they check signatures with and wrap room keys to.
type PublicIdentity struct {
	_        [0]func() // not comparable: use Equal
	name     string
	signing  ed25519.PublicKey
	kemBytes []byte
	kem      hpke.PublicKey
}

// NewPublicIdentity returns the public identity of the user name with the
// given Ed25519 public key (32 bytes) and MLKEM768-X25519 public key
// (1216 bytes), as returned by SigningKey and KEMKey. It returns an error,
// and never panics, if a key is malformed or the name is not 1 to
// MaxNameBytes bytes long.
func NewPublicIdentity(name string, signingKey, kemKey []byte) (*PublicIdentity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(signingKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("signing key is %d bytes, want %d", len(signingKey), ed25519.PublicKeySize)
	}
	if len(kemKey) != kemPublicKeySize {
		return nil, fmt.Errorf("kem key is %d bytes, want %d", len(kemKey), kemPublicKeySize)
	}
	kem, err := hpke.MLKEM768X25519().NewPublicKey(kemKey)
	if err != nil {
		return nil, fmt.Errorf("kem key: %w", err)
	}
	return &PublicIdentity{
		name:     name,
		signing:  ed25519.PublicKey(clone(signingKey)),
		kemBytes: clone(kemKey),
		kem:      kem,
	}, nil
}

// Name returns the user name the identity belongs to.
func (p *PublicIdentity) Name() string { return p.name }

// SigningKey returns a copy of the Ed25519 public key.
func (p *PublicIdentity) SigningKey() []byte { return clone(p.signing) }

// KEMKey returns a copy of the MLKEM768-X25519 public key.
func (p *PublicIdentity) KEMKey() []byte { return clone(p.kemBytes) }

// Equal reports whether p and q have the same name and keys. The keys are
// compared in constant time. Two nil identities are equal.
func (p *PublicIdentity) Equal(q *PublicIdentity) bool {
	if p == nil || q == nil {
		return p == q
	}
	keys := subtle.ConstantTimeCompare(p.signing, q.signing) &
		subtle.ConstantTimeCompare(p.kemBytes, q.kemBytes)
	return keys == 1 && p.name == q.name
}

// Fingerprint returns a short, stable string that identifies p's keys, for
// users to compare out of band. It is "parley1" followed by eight groups of
// four characters, each group preceded by '-':
//
//	parley1-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx
//
// The characters are the lowercase, unpadded base32 (RFC 4648 alphabet,
// a-z and 2-7) of the first 20 bytes of
// SHA-256(lp("parley/v1/fingerprint") || signing key || KEM key).
// The name is not part of the fingerprint.
func (p *PublicIdentity) Fingerprint() string {
	enc := strings.ToLower(fingerprintEncoding.EncodeToString(p.fingerprintDigest()))
	var b strings.Builder
	b.WriteString(fingerprintPrefix)
	for i := 0; i < len(enc); i += 4 {
		b.WriteByte('-')
		b.WriteString(enc[i : i+4])
	}
	return b.String()
}

// checkName checks that name fits the length an envelope can carry.
func checkName(name string) error {
	if len(name) == 0 || len(name) > MaxNameBytes {
		return fmt.Errorf("name is %d bytes, want 1 to %d", len(name), MaxNameBytes)
	}
	return nil
}

func clone(b []byte) []byte {
	return append([]byte(nil), b...)
}
