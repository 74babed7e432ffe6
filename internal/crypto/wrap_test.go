package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func testKeys(n int) []RoomKey {
	keys := make([]RoomKey, n)
	for i := range keys {
		keys[i] = NewRoomKey()
	}
	return keys
}

func equalKeys(a, b []RoomKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func TestWrapRoundTrip(t *testing.T) {
	bob := mustNewIdentity(t, "bob")
	for _, n := range []int{1, 2, 10, 100} {
		keys := testKeys(n)
		info := []byte("general/3/bob")
		wrapped, err := WrapKeys(bob.Public(), info, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(wrapped) != wrapOverhead+32*n {
			t.Errorf("%d keys: wrap is %d bytes, want %d", n, len(wrapped), wrapOverhead+32*n)
		}
		got, err := bob.UnwrapKeys(info, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if !equalKeys(got, keys) {
			t.Errorf("%d keys: unwrapped other keys", n)
		}
	}
}

func TestWrapRejects(t *testing.T) {
	bob := fixedIdentity(t, "bob")
	carol := fixedIdentity(t, "carol")
	// bob's name with carol's keys, as a substituted directory entry would
	// have.
	fakeBob, err := NewPublicIdentity("bob", carol.Public().SigningKey(), carol.Public().KEMKey())
	if err != nil {
		t.Fatal(err)
	}
	info := []byte("general/1/bob")
	keys := testKeys(3)
	wrapped, err := WrapKeys(bob.Public(), info, keys)
	if err != nil {
		t.Fatal(err)
	}
	toFake, err := WrapKeys(fakeBob, info, keys)
	if err != nil {
		t.Fatal(err)
	}

	tooMany := make([]byte, wrapOverhead+32*(MaxEpochs+1))
	tooMany[0] = wrapVersion

	tests := []struct {
		name    string
		id      *Identity
		info    []byte
		wrapped []byte
		wantErr error
	}{
		{"carol opens bob's", carol, info, wrapped, ErrDecrypt},
		{"bob opens one made to his name with carol's key", bob, info, toFake, ErrDecrypt},
		{"other info", bob, []byte("general/1/carol"), wrapped, ErrDecrypt},
		{"nil info", bob, nil, wrapped, ErrDecrypt},
		{"info with suffix", bob, append(bytes.Clone(info), 0), wrapped, ErrDecrypt},
		{"empty", bob, info, nil, ErrMalformed},
		{"version only", bob, info, []byte{wrapVersion}, ErrMalformed},
		{"other version", bob, info, append([]byte{2}, wrapped[1:]...), ErrMalformed},
		{"no keys", bob, info, wrapped[:wrapOverhead], ErrMalformed},
		{"truncated by a byte", bob, info, wrapped[:len(wrapped)-1], ErrMalformed},
		{"truncated by a key", bob, info, wrapped[:len(wrapped)-32], ErrDecrypt},
		{"extra byte", bob, info, append(bytes.Clone(wrapped), 0), ErrMalformed},
		{"extra key", bob, info, append(bytes.Clone(wrapped), make([]byte, 32)...), ErrDecrypt},
		{"too many keys", bob, info, tooMany, ErrTooLarge},
	}
	for _, tt := range tests {
		_, err := tt.id.UnwrapKeys(tt.info, tt.wrapped)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	if _, err := carol.UnwrapKeys(info, toFake); err != nil {
		t.Errorf("carol cannot open the wrap made to her key: %v", err)
	}

	// Tamper with every byte.
	for i := range wrapped {
		if _, err := bob.UnwrapKeys(info, flip(wrapped, i)); err == nil {
			t.Errorf("byte %d flipped: unwrapped", i)
		}
	}
}

func TestWrapKeysErrors(t *testing.T) {
	bob := fixedIdentity(t, "bob").Public()
	tests := []struct {
		name string
		to   *PublicIdentity
		keys []RoomKey
	}{
		{"nil recipient", nil, testKeys(1)},
		{"no keys", bob, nil},
		{"zero key", bob, []RoomKey{NewRoomKey(), {}}},
		{"too many keys", bob, make([]RoomKey, MaxEpochs+1)},
	}
	for _, tt := range tests {
		if _, err := WrapKeys(tt.to, nil, tt.keys); err == nil {
			t.Errorf("%s: succeeded", tt.name)
		}
	}
}
