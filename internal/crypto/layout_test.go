package crypto

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// These tests rebuild the documented constructions from the standard
// primitives, without the package's helpers, to keep the documentation and
// the code in step.

func lp(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestEnvelopeLayoutDocumented(t *testing.T) {
	m := sealTestMessage(t, []byte("as documented"))
	b, n := m.sealed, len(m.header.Sender)
	if b[0] != 2 ||
		binary.BigEndian.Uint32(b[1:]) != m.header.Commit ||
		[16]byte(b[5:21]) != m.header.CommitDigest ||
		int(b[21]) != n ||
		string(b[22:22+n]) != m.header.Sender ||
		binary.BigEndian.Uint64(b[22+n:]) != m.header.Seq ||
		[16]byte(b[30+n:46+n]) != m.header.Prev ||
		[16]byte(b[46+n:62+n]) != m.header.Seen ||
		int64(binary.BigEndian.Uint64(b[62+n:])) != m.header.Time {
		t.Fatal("header fields are not where the layout puts them")
	}
	c := int(binary.BigEndian.Uint32(b[70+n:]))
	if 74+n+c+64 != len(b) {
		t.Fatal("ciphertext length field")
	}
	ct, sig := b[74+n:74+n+c], b[74+n+c:]
	prefix := cat(lp("parley/v2/message-signature"), lp(m.room), m.id[:])

	if !ed25519.Verify(m.sender.signing.Public().(ed25519.PublicKey), cat(prefix, b[:74+n+c]), sig) {
		t.Error("signature is not over prefix || envelope before the signature")
	}
	sum := sha256.Sum256(cat(lp("parley/v2/message-nonce"), lp(m.room), m.id[:], lp(m.header.Sender)))
	aead, _ := chacha20poly1305.NewX(m.key.k[:])
	pt, err := aead.Open(nil, sum[:24], ct, cat(prefix, b[:74+n]))
	if err != nil || string(pt) != "as documented" {
		t.Errorf("ciphertext does not open with the documented nonce and associated data: %v", err)
	}
	e, _ := ParseEnvelope(b)
	chain := sha256.Sum256(cat(lp("parley/v2/chain-hash"), b))
	if e.ChainHash() != [16]byte(chain[:16]) {
		t.Error("chain hash is not as documented")
	}
}

func TestSignDocumented(t *testing.T) {
	alice := fixedIdentity(t, "alice")
	sig := alice.Sign("label", []byte("msg"))
	if !ed25519.Verify(alice.signing.Public().(ed25519.PublicKey), cat(lp("label"), []byte("msg")), sig) {
		t.Error("Sign is not Ed25519 over lp(label) || msg")
	}
}

func TestFingerprintDocumented(t *testing.T) {
	p := fixedIdentity(t, "alice").Public()
	sum := sha256.Sum256(cat(lp("parley/v1/fingerprint"), p.SigningKey(), p.KEMKey()))
	enc := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:20]))
	var want strings.Builder
	want.WriteString("parley1")
	for i := 0; i < 32; i += 4 {
		want.WriteString("-" + enc[i:i+4])
	}
	if got := p.Fingerprint(); got != want.String() {
		t.Errorf("Fingerprint() = %s, want %s", got, want.String())
	}
}

func TestWrapDocumented(t *testing.T) {
	bob := fixedIdentity(t, "bob")
	keys := []RoomKey{fixedRoomKey(t, "1"), fixedRoomKey(t, "2")}
	wrapped, err := WrapKeys(bob.Public(), []byte("info"), keys)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped[0] != 1 {
		t.Fatal("version byte")
	}
	pt, err := hpke.Open(bob.kem, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), cat(lp("parley/v2/room-key-wrap"), []byte("info")), wrapped[1:])
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != string(cat(keys[0].k[:], keys[1].k[:])) {
		t.Error("wrap does not carry the concatenated keys")
	}
}

func TestKeystoreDocumented(t *testing.T) {
	alice := fixedIdentity(t, "alice")
	signingSeed, kemSeed, _ := alice.seeds()
	secret := cat([]byte{5}, []byte("alice"), signingSeed, kemSeed)

	plain, _ := decodeKeystore(marshalTestKeystore(t, alice, ""))
	sum := sha256.Sum256(cat(lp("parley/v1/keystore-checksum"), []byte("parley-keystore v1\n"), plain[:len(plain)-16]))
	if string(plain) != string(cat([]byte{0}, secret, sum[:16])) {
		t.Error("unencrypted keystore body is not as documented")
	}

	body, _ := decodeKeystore(marshalTestKeystore(t, alice, "pass"))
	if body[0] != 1 {
		t.Fatal("mode byte")
	}
	tm, mem, threads := binary.BigEndian.Uint32(body[1:]), binary.BigEndian.Uint32(body[5:]), body[9]
	salt := body[10:26]
	key := argon2.IDKey([]byte("pass"), cat(lp("parley/v1/keystore-kdf"), salt), tm, mem, threads, 32)
	aead, _ := chacha20poly1305.NewX(key)
	got, err := aead.Open(nil, make([]byte, 24), body[26:], cat([]byte("parley-keystore v1\n"), body[:26]))
	if err != nil || string(got) != string(secret) {
		t.Errorf("encrypted keystore does not open as documented: %v", err)
	}
}
