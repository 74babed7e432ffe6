package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func marshalTestKeystore(tb testing.TB, id *Identity, passphrase string) []byte {
	tb.Helper()
	data, err := marshalKeystore(id, []byte(passphrase), testKDFParams())
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// sameIdentity reports whether a and b have the same name and keys.
func sameIdentity(a, b *Identity) bool {
	as, ak, _ := a.seeds()
	bs, bk, _ := b.seeds()
	return a.Name() == b.Name() && bytes.Equal(as, bs) && bytes.Equal(ak, bk) && a.Public().Equal(b.Public())
}

func TestKeystoreRoundTrip(t *testing.T) {
	for _, name := range []string{"a", "alice", strings.Repeat("n", MaxNameBytes)} {
		id := mustNewIdentity(t, name)
		for _, pass := range []string{"", "correct horse battery staple"} {
			data := marshalTestKeystore(t, id, pass)
			if !strings.HasPrefix(string(data), "parley-keystore v1\n") {
				t.Errorf("keystore does not start with its version line: %q", data)
			}
			for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if len(line) > 64 {
					t.Errorf("line longer than 64 characters: %q", line)
				}
			}
			enc, err := KeystoreEncrypted(data)
			if err != nil || enc != (pass != "") {
				t.Errorf("KeystoreEncrypted = %v, %v", enc, err)
			}
			got, err := UnmarshalKeystore(data, []byte(pass))
			if err != nil {
				t.Fatal(err)
			}
			if !sameIdentity(got, id) {
				t.Error("keystore round trip changed the identity")
			}
			// CRLF line endings, as an editor might leave them.
			crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			crlf = bytes.Replace(crlf, []byte("v1\r\n"), []byte("v1\n"), 1)
			if got, err := UnmarshalKeystore(crlf, []byte(pass)); err != nil || !sameIdentity(got, id) {
				t.Errorf("CRLF keystore: %v", err)
			}
		}
	}
}

func TestKeystoreDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with default parameters is slow")
	}
	id := fixedIdentity(t, "alice")
	data, err := MarshalKeystore(id, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalKeystore(data, []byte("pass"))
	if err != nil || !sameIdentity(got, id) {
		t.Fatalf("round trip with default parameters: %v", err)
	}
	body, _ := decodeKeystore(data)
	if p := (kdfParams{binary.BigEndian.Uint32(body[1:]), binary.BigEndian.Uint32(body[5:]), body[9]}); p != defaultKDFParams() {
		t.Errorf("stored parameters %+v, want %+v", p, defaultKDFParams())
	}
	if err := defaultKDFParams().check(maxKDFParams()); err != nil {
		t.Errorf("default parameters exceed the maxima: %v", err)
	}
}

func TestKeystorePassphrase(t *testing.T) {
	id := fixedIdentity(t, "alice")
	data := marshalTestKeystore(t, id, "secret")
	if _, err := UnmarshalKeystore(data, []byte("Secret")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := UnmarshalKeystore(data, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("no passphrase: %v", err)
	}
	if _, err := UnmarshalKeystore(data, []byte{}); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("empty passphrase: %v", err)
	}
	// A passphrase given for an unencrypted keystore is ignored.
	plain := marshalTestKeystore(t, id, "")
	if got, err := UnmarshalKeystore(plain, []byte("anything")); err != nil || !sameIdentity(got, id) {
		t.Errorf("unencrypted keystore with a passphrase: %v", err)
	}
	// Each encryption uses a fresh salt.
	if bytes.Equal(data, marshalTestKeystore(t, id, "secret")) {
		t.Error("two encryptions of a keystore are equal")
	}
}

// rewriteKeystore decodes a keystore, applies f to its body and encodes it
// again.
func rewriteKeystore(tb testing.TB, data []byte, f func(body []byte) []byte) []byte {
	tb.Helper()
	body, err := decodeKeystore(data)
	if err != nil {
		tb.Fatal(err)
	}
	body = f(body)
	return []byte(keystoreMagic + base64.StdEncoding.EncodeToString(body) + "\n")
}

func TestKeystoreBad(t *testing.T) {
	id := fixedIdentity(t, "alice")
	plain := marshalTestKeystore(t, id, "")
	enc := marshalTestKeystore(t, id, "pass")
	setParams := func(p kdfParams) []byte {
		return rewriteKeystore(t, enc, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[1:], p.time)
			binary.BigEndian.PutUint32(b[5:], p.memory)
			b[9] = p.threads
			return b
		})
	}
	max := maxKDFParams()
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrBadKeystore},
		{"other file", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), ErrBadKeystore},
		{"other version", []byte("parley-keystore v2\nAA==\n"), ErrBadKeystore},
		{"no body", []byte(keystoreMagic), ErrBadKeystore},
		{"bad base64", []byte(keystoreMagic + "!!!!\n"), ErrBadKeystore},
		{"base64 with nonzero padding bits", []byte(keystoreMagic + "AB==\n"), ErrBadKeystore},
		{"too large", append([]byte(keystoreMagic), bytes.Repeat([]byte("AAAA"), 1024)...), ErrBadKeystore},
		{"unknown mode", rewriteKeystore(t, plain, func(b []byte) []byte { b[0] = 2; return b }), ErrBadKeystore},
		{"plain truncated", rewriteKeystore(t, plain, func(b []byte) []byte { return b[:len(b)-1] }), ErrBadKeystore},
		{"plain checksum only", rewriteKeystore(t, plain, func(b []byte) []byte { return b[:1+16] }), ErrBadKeystore},
		{"plain extended", rewriteKeystore(t, plain, func(b []byte) []byte { return append(b, 0) }), ErrBadKeystore},
		{"plain seed changed", rewriteKeystore(t, plain, func(b []byte) []byte { b[20] ^= 1; return b }), ErrBadKeystore},
		{"encrypted truncated", rewriteKeystore(t, enc, func(b []byte) []byte { return b[:20] }), ErrBadKeystore},
		{"encrypted secret changed", rewriteKeystore(t, enc, func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), ErrWrongPassphrase},
		{"salt changed", rewriteKeystore(t, enc, func(b []byte) []byte { b[12] ^= 1; return b }), ErrWrongPassphrase},
		{"time 0", setParams(kdfParams{0, 8, 1}), ErrBadKeystore},
		{"time over the cap", setParams(kdfParams{max.time + 1, 8, 1}), ErrBadKeystore},
		{"time huge", setParams(kdfParams{0xffffffff, 8, 1}), ErrBadKeystore},
		{"memory over the cap", setParams(kdfParams{1, max.memory + 1, 1}), ErrBadKeystore},
		{"memory 100 GB", setParams(kdfParams{1, 100 << 20, 1}), ErrBadKeystore},
		{"memory under 8 per thread", setParams(kdfParams{1, 15, 2}), ErrBadKeystore},
		{"threads 0", setParams(kdfParams{1, 8, 0}), ErrBadKeystore},
		{"threads over the cap", setParams(kdfParams{1, 8 * 255, 255}), ErrBadKeystore},
		{"other params in range", setParams(kdfParams{2, 16, 2}), ErrWrongPassphrase},
	}
	for _, tt := range tests {
		_, err := UnmarshalKeystore(tt.data, []byte("pass"))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := KeystoreEncrypted([]byte("nonsense")); !errors.Is(err, ErrBadKeystore) {
		t.Errorf("KeystoreEncrypted(nonsense): %v", err)
	}
	// A limit on parameters is checked before asking for the passphrase.
	if _, err := UnmarshalKeystore(setParams(kdfParams{1, 100 << 20, 1}), nil); !errors.Is(err, ErrBadKeystore) {
		t.Errorf("over the cap without passphrase: %v", err)
	}
}

// TestKeystoreTamper changes every byte of keystores and checks that none
// opens as anything.
func TestKeystoreTamper(t *testing.T) {
	id := fixedIdentity(t, "alice")
	plain := marshalTestKeystore(t, id, "")
	for i := range plain {
		for _, mask := range []byte{0x01, 0x20, 0xff} {
			b := bytes.Clone(plain)
			b[i] ^= mask
			if got, err := UnmarshalKeystore(b, nil); err == nil && !sameIdentity(got, id) {
				t.Errorf("text byte %d ^ %#x: opened as another identity", i, mask)
			} else if err == nil && b[i] != '\n' && b[i] != '\r' {
				t.Errorf("text byte %d ^ %#x: opened", i, mask)
			}
		}
	}

	enc := marshalTestKeystore(t, id, "pass")
	body, _ := decodeKeystore(enc)
	for i := range body {
		b := rewriteKeystore(t, enc, func(b []byte) []byte { b[i] ^= 0x01; return b })
		// Small caps keep runs whose changed parameters stay in range quick.
		if _, err := unmarshalKeystore(b, []byte("pass"), fuzzMaxKDFParams()); err == nil {
			t.Errorf("body byte %d changed: opened", i)
		}
	}
}

func TestMarshalKeystoreErrors(t *testing.T) {
	if _, err := MarshalKeystore(nil, nil); err == nil {
		t.Error("nil identity: succeeded")
	}
	if _, err := marshalKeystore(fixedIdentity(t, "a"), []byte("p"), kdfParams{}); err == nil {
		t.Error("zero parameters: succeeded")
	}
}
