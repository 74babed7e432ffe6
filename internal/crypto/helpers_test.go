package crypto

import (
	"crypto/sha256"
	"testing"
)

// testKDFParams are the smallest argon2id parameters, so tests that encrypt
// keystores run quickly.
func testKDFParams() kdfParams {
	return kdfParams{time: 1, memory: 8, threads: 1}
}

// fuzzMaxKDFParams cap what a keystore may ask for while fuzzing, so that
// mutated parameters are rejected instead of making each run slow.
func fuzzMaxKDFParams() kdfParams {
	return kdfParams{time: 2, memory: 64, threads: 2}
}

// seedFor derives a fixed 32-byte seed from a string.
func seedFor(s string) []byte {
	sum := sha256.Sum256([]byte("parley test seed: " + s))
	return sum[:]
}

// fixedIdentity returns the same identity for name on every call.
func fixedIdentity(tb testing.TB, name string) *Identity {
	tb.Helper()
	id, err := newIdentityFromSeeds(name, seedFor(name+" signing"), seedFor(name+" kem"))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// fixedRoomKey returns the same room key for s on every call.
func fixedRoomKey(tb testing.TB, s string) RoomKey {
	tb.Helper()
	k, err := RoomKeyFromBytes(seedFor("room key " + s))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fixedMessageID returns the same message ID for s on every call.
func fixedMessageID(s string) MessageID {
	var m MessageID
	copy(m[:], seedFor("message id "+s))
	return m
}

func mustNewIdentity(tb testing.TB, name string) *Identity {
	tb.Helper()
	id, err := NewIdentity(name)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
