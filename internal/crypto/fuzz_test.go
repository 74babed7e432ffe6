package crypto

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata: test vectors and fuzz seed corpora")

// The fuzz targets check fixed inputs against fixed keys, so that their
// seed corpora, written by TestFuzzCorpus, hold inputs that get past the
// parsers and into the cryptography.

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte{})
	alice := fixedIdentity(f, "alice").Public()
	key := fixedRoomKey(f, "general 1")
	id := fixedMessageID("1")
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("parse error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if !bytes.Equal(e.Marshal(), data) {
			t.Fatal("Marshal does not round-trip")
		}
		if got := e.CiphertextLen() + len(e.Sender) + EnvelopeOverhead - tagSize; got != len(data) {
			t.Fatalf("CiphertextLen %d does not add up to %d bytes", e.CiphertextLen(), len(data))
		}
		e.ChainHash()
		verr := e.Verify("general", id, alice)
		pt, oerr := e.Open(key, "general", id)
		if verr == nil && oerr == nil && len(pt) != e.CiphertextLen()-tagSize {
			t.Fatal("plaintext length")
		}
		if verr == nil && e.Sender != "alice" {
			t.Fatal("verified an envelope from someone else")
		}
	})
}

func FuzzUnwrapKeys(f *testing.F) {
	f.Add([]byte{}, []byte{})
	bob := fixedIdentity(f, "bob")
	f.Fuzz(func(t *testing.T, info, wrapped []byte) {
		keys, err := bob.UnwrapKeys(info, wrapped)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys)*RoomKeySize+wrapOverhead != len(wrapped) {
			t.Fatalf("%d keys from %d bytes", len(keys), len(wrapped))
		}
		for _, k := range keys {
			if k.IsZero() {
				t.Fatal("zero key")
			}
		}
	})
}

func FuzzUnmarshalKeystore(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, data, passphrase []byte) {
		id, err := unmarshalKeystore(data, passphrase, fuzzMaxKDFParams())
		encrypted, eerr := KeystoreEncrypted(data)
		if err != nil {
			if !errors.Is(err, ErrBadKeystore) && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrPassphraseRequired) {
				t.Fatalf("error %v wraps none of the keystore errors", err)
			}
			return
		}
		if eerr != nil {
			t.Fatalf("opened, but KeystoreEncrypted fails: %v", eerr)
		}
		if encrypted && len(passphrase) == 0 {
			t.Fatal("opened an encrypted keystore without a passphrase")
		}
		if n := len(id.Name()); n == 0 || n > MaxNameBytes {
			t.Fatalf("name of %d bytes", n)
		}
		again, err := marshalKeystore(id, nil, testKDFParams())
		if err != nil {
			t.Fatal(err)
		}
		id2, err := UnmarshalKeystore(again, nil)
		if err != nil || !sameIdentity(id, id2) {
			t.Fatalf("re-marshalled keystore: %v", err)
		}
	})
}

// TestFuzzCorpusValid checks that the committed "valid" seeds still get
// through to success, so that fuzzing starts from inputs that reach the
// cryptography.
func TestFuzzCorpusValid(t *testing.T) {
	read := func(target, name string) [][]byte {
		data, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if lines[0] != "go test fuzz v1" {
			t.Fatalf("%s/%s: bad header", target, name)
		}
		var args [][]byte
		for _, l := range lines[1:] {
			q, ok := strings.CutPrefix(l, "[]byte(")
			q, ok2 := strings.CutSuffix(q, ")")
			s, err := strconv.Unquote(q)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s/%s: bad line %q", target, name, l)
			}
			args = append(args, []byte(s))
		}
		return args
	}

	env := read("FuzzParseEnvelope", "valid")
	e, err := ParseEnvelope(env[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify("general", fixedMessageID("1"), fixedIdentity(t, "alice").Public()); err != nil {
		t.Error(err)
	}
	if _, err := e.Open(fixedRoomKey(t, "general 1"), "general", fixedMessageID("1")); err != nil {
		t.Error(err)
	}

	wrap := read("FuzzUnwrapKeys", "valid")
	if _, err := fixedIdentity(t, "bob").UnwrapKeys(wrap[0], wrap[1]); err != nil {
		t.Error(err)
	}

	ks := read("FuzzUnmarshalKeystore", "encrypted")
	if _, err := unmarshalKeystore(ks[0], ks[1], fuzzMaxKDFParams()); err != nil {
		t.Error(err)
	}
}

// TestFuzzCorpus checks that the committed seed corpora exist, and with
// -update rewrites them from valid values.
func TestFuzzCorpus(t *testing.T) {
	corpora := map[string]map[string][][]byte{
		"FuzzParseEnvelope":     envelopeCorpus(t),
		"FuzzUnwrapKeys":        wrapCorpus(t),
		"FuzzUnmarshalKeystore": keystoreCorpus(t),
	}
	for target, entries := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if !*update {
			files, err := os.ReadDir(dir)
			if err != nil || len(files) == 0 {
				t.Errorf("no seed corpus for %s (run go test -run TestFuzzCorpus -update): %v", target, err)
			}
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, args := range entries {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				fmt.Fprintf(&b, "[]byte(%q)\n", a)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func envelopeCorpus(t *testing.T) map[string][][]byte {
	alice := fixedIdentity(t, "alice")
	long := fixedIdentity(t, strings.Repeat("l", MaxNameBytes))
	key := fixedRoomKey(t, "general 1")
	id := fixedMessageID("1")
	seal := func(sender *Identity, seq uint64, plaintext string) []byte {
		h := Header{Commit: 1, Sender: sender.Name(), Seq: seq, Time: 1767225600000}
		b, err := SealMessage(sender, key, "general", id, h, []byte(plaintext))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := seal(alice, 1, "hello, world")
	return map[string][][]byte{
		"valid":          {valid},
		"valid-empty":    {seal(alice, 2, "")},
		"valid-long":     {seal(long, 3, strings.Repeat("a long message ", 40))},
		"other-version":  {append([]byte{2}, valid[1:]...)},
		"trailing-byte":  {append(bytes.Clone(valid), 0)},
		"no-signature":   {valid[:len(valid)-sigSize]},
		"header-only":    {valid[:headerFixedSize+len("alice")]},
		"sender-too-big": {append(append(bytes.Clone(valid[:5]), 65), valid[6:]...)},
	}
}

func wrapCorpus(t *testing.T) map[string][][]byte {
	bob := fixedIdentity(t, "bob").Public()
	carol := fixedIdentity(t, "carol").Public()
	info := []byte("general/2/bob")
	keys := []RoomKey{fixedRoomKey(t, "general 1"), fixedRoomKey(t, "general 2")}
	wrap := func(to *PublicIdentity, keys []RoomKey) []byte {
		b, err := WrapKeys(to, info, keys)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := wrap(bob, keys)
	return map[string][][]byte{
		"valid":        {info, valid},
		"valid-one":    {info, wrap(bob, keys[:1])},
		"to-carol":     {info, wrap(carol, keys)},
		"other-info":   {[]byte("general/2/carol"), valid},
		"truncated":    {info, valid[:len(valid)-1]},
		"enc-only":     {info, valid[:1+wrapEncSize]},
		"version-only": {info, {wrapVersion}},
	}
}

func keystoreCorpus(t *testing.T) map[string][][]byte {
	alice := fixedIdentity(t, "alice")
	plain := marshalTestKeystore(t, alice, "")
	enc := marshalTestKeystore(t, alice, "pass")
	bigParams := rewriteKeystore(t, enc, func(b []byte) []byte { b[5] = 0x10; return b })
	return map[string][][]byte{
		"plain":           {plain, nil},
		"encrypted":       {enc, []byte("pass")},
		"wrong-pass":      {enc, []byte("Pass")},
		"no-pass":         {enc, nil},
		"params-over-cap": {bigParams, []byte("pass")},
		"truncated":       {plain[:len(plain)/2], nil},
	}
}
