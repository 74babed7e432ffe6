package crypto

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// benchPlaintext is a typical chat line.
var benchPlaintext = bytes.Repeat([]byte("x"), 100)

func BenchmarkSealMessage(b *testing.B) {
	alice := fixedIdentity(b, "alice")
	key := fixedRoomKey(b, "k")
	id := NewMessageID(time.Now())
	h := Header{Commit: 1, Sender: "alice", Seq: 1, Time: time.Now().UnixMilli()}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPlaintext)))
	for b.Loop() {
		if _, err := SealMessage(alice, key, "general", id, h, benchPlaintext); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerifyOpen is the work of reading one stored message.
func BenchmarkParseVerifyOpen(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	pub := m.sender.Public()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPlaintext)))
	for b.Loop() {
		e, err := ParseEnvelope(m.sealed)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Verify(m.room, m.id, pub); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Open(m.key, m.room, m.id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(m.sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	e, _ := ParseEnvelope(m.sealed)
	pub := m.sender.Public()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Verify(m.room, m.id, pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the floor for BenchmarkVerify: the bare
// signature check of a message of the same length.
func BenchmarkEd25519Verify(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	pub := m.sender.signing.Public().(ed25519.PublicKey)
	msg := append(appendSignedPrefix(nil, m.room, m.id), m.sealed[:len(m.sealed)-64]...)
	sig := m.sealed[len(m.sealed)-64:]
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	e, _ := ParseEnvelope(m.sealed)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Open(m.key, m.room, m.id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChainHash(b *testing.B) {
	m := sealTestMessage(b, benchPlaintext)
	e, _ := ParseEnvelope(m.sealed)
	b.ReportAllocs()
	for b.Loop() {
		e.ChainHash()
	}
}

func BenchmarkWrapKeys(b *testing.B) {
	bob := fixedIdentity(b, "bob").Public()
	keys := testKeys(10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WrapKeys(bob, []byte("general/10/bob"), keys); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapKeys(b *testing.B) {
	bob := fixedIdentity(b, "bob")
	wrapped, err := WrapKeys(bob.Public(), []byte("general/10/bob"), testKeys(10))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bob.UnwrapKeys([]byte("general/10/bob"), wrapped); err != nil {
			b.Fatal(err)
		}
	}
}
