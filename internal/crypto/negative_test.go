package crypto

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Negative vectors: inputs this package must refuse, one case per file in
// testdata/negative, each derived from the positive vectors
// (testdata/vectors.json) by one change. A file reads
//
//	# what was changed, and why it must fail
//	op: envelope.open
//	error: ErrDecrypt
//	reason: under commit 1
//	room: general
//	input: 0200...
//
// op names the function the input goes to; the other fields are its
// arguments (an identity is always the vectors' alice). The call must fail
// with an error that errors.Is the named sentinel and whose text holds
// reason: the input is refused for the stated cause, not another one.
// go test -update writes the files again.

var negativeDir = filepath.Join("testdata", "negative")

// negativeCase is one file of testdata/negative.
type negativeCase struct {
	name   string // file name, without .txt
	desc   []string
	fields map[string]string
}

// Field order in the files: the operation, the expected failure, then the
// arguments, the input last.
var negativeFieldOrder = []string{"op", "error", "reason", "room", "id", "key", "info", "epoch", "passphrase", "input"}

var negativeSentinels = map[string]error{
	"ErrMalformed":          ErrMalformed,
	"ErrTooLarge":           ErrTooLarge,
	"ErrBadSignature":       ErrBadSignature,
	"ErrDecrypt":            ErrDecrypt,
	"ErrBadKeystore":        ErrBadKeystore,
	"ErrWrongPassphrase":    ErrWrongPassphrase,
	"ErrPassphraseRequired": ErrPassphraseRequired,
}

func TestNegativeVectors(t *testing.T) {
	v := loadVectors(t)
	alice, err := newIdentityFromSeeds(v.Name, unhex(t, v.SigningSeed), unhex(t, v.KEMSeed))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		writeNegativeCases(t, makeNegativeCases(t, v))
	}
	files, err := filepath.Glob(filepath.Join(negativeDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no negative vectors in %s", negativeDir)
	}
	kinds := map[string]int{}
	for _, f := range files {
		c := readNegativeCase(t, f)
		kinds[strings.Split(c.fields["op"], ".")[0]]++
		t.Run(c.name, func(t *testing.T) {
			if len(c.desc) == 0 {
				t.Error("no description")
			}
			want := negativeSentinels[c.fields["error"]]
			if want == nil {
				t.Fatalf("unknown error %q", c.fields["error"])
			}
			reason := c.fields["reason"]
			if reason == "" {
				t.Fatal("no reason")
			}
			err := runNegativeCase(t, c, alice)
			if err == nil {
				t.Fatalf("%s accepted the input; want %v: ...%s", c.fields["op"], want, reason)
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), reason) {
				t.Fatalf("%s failed with %q; want %v with %q", c.fields["op"], err, want, reason)
			}
		})
	}
	for _, k := range []string{"envelope", "wrap", "keylink", "keystore"} {
		if kinds[k] == 0 {
			t.Errorf("no negative vector for %s", k)
		}
	}
}

// runNegativeCase calls the function c.op names with c's arguments.
func runNegativeCase(t *testing.T, c negativeCase, alice *Identity) error {
	t.Helper()
	f := c.fields
	input := unhex(t, f["input"])
	roomKey := func() RoomKey {
		k, err := RoomKeyFromBytes(unhex(t, f["key"]))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	messageID := func() MessageID {
		id, err := ParseMessageID(f["id"])
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	switch f["op"] {
	case "envelope.parse":
		_, err := ParseEnvelope(input)
		return err
	case "envelope.verify", "envelope.open":
		e, err := ParseEnvelope(input)
		if err != nil {
			t.Fatalf("the envelope must parse, to fail later: %v", err)
		}
		if f["op"] == "envelope.verify" {
			return e.Verify(f["room"], messageID(), alice.Public())
		}
		_, err = e.Open(roomKey(), f["room"], messageID())
		return err
	case "wrap.unwrap":
		_, err := alice.UnwrapKeys([]byte(f["info"]), input)
		return err
	case "keylink.open":
		epoch, err := strconv.ParseUint(f["epoch"], 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		_, err = OpenKeyLink(roomKey(), f["room"], uint32(epoch), input)
		return err
	case "keystore.unmarshal":
		_, err := UnmarshalKeystore(input, []byte(f["passphrase"]))
		return err
	}
	t.Fatalf("unknown op %q", f["op"])
	return nil
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func readNegativeCase(t *testing.T, path string) negativeCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := negativeCase{name: strings.TrimSuffix(filepath.Base(path), ".txt"), fields: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			c.desc = append(c.desc, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case strings.TrimSpace(line) == "":
		default:
			k, val, ok := strings.Cut(line, ":")
			if !ok || !slices.Contains(negativeFieldOrder, k) {
				t.Fatalf("%s: bad line %q", path, line)
			}
			if _, dup := c.fields[k]; dup {
				t.Fatalf("%s: %s given twice", path, k)
			}
			c.fields[k] = strings.TrimPrefix(val, " ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func writeNegativeCases(t *testing.T, cases []negativeCase) {
	t.Helper()
	if err := os.MkdirAll(negativeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join(negativeDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		var b strings.Builder
		for _, d := range c.desc {
			fmt.Fprintf(&b, "# %s\n", d)
		}
		for _, k := range negativeFieldOrder {
			if val, ok := c.fields[k]; ok {
				fmt.Fprintf(&b, "%s:", k)
				if val != "" {
					fmt.Fprintf(&b, " %s", val)
				}
				b.WriteByte('\n')
			}
		}
		if err := os.WriteFile(filepath.Join(negativeDir, c.name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeNegativeCases derives the negative vectors from the positive ones.
func makeNegativeCases(t *testing.T, v vectors) []negativeCase {
	t.Helper()
	var cases []negativeCase
	add := func(name, desc, op, errName, reason string, input []byte, args ...string) {
		f := map[string]string{"op": op, "error": errName, "reason": reason, "input": hex.EncodeToString(input)}
		for i := 0; i+1 < len(args); i += 2 {
			f[args[i]] = args[i+1]
		}
		cases = append(cases, negativeCase{name: name, desc: strings.Split(desc, "\n"), fields: f})
	}
	changed := func(b []byte, change func([]byte) []byte) []byte { return change(slices.Clone(b)) }
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte {
			if i < 0 {
				i += len(b)
			}
			b[i] ^= 0x01
			return b
		}
	}

	// Envelopes: the vectors' envelope, from alice in general.
	env := unhex(t, v.Envelope)
	n := int(env[nameOffset])
	seqAt := nameOffset + 1 + n
	ctAt := headerFixedSize + n
	msg := []string{"room", v.Room, "id", v.MessageID}
	withKey := append(slices.Clone(msg), "key", v.RoomKey)
	add("envelope-truncated", "The envelope less its last byte: shorter than its header says.",
		"envelope.parse", "ErrMalformed", "its header says", env[:len(env)-1])
	add("envelope-trailing-byte", "The envelope with a byte appended: longer than its header says.",
		"envelope.parse", "ErrMalformed", "its header says", append(slices.Clone(env), 0))
	add("envelope-unknown-version", "The version byte set to 1, a version this package does not read.",
		"envelope.parse", "ErrMalformed", "unknown envelope version 1", changed(env, func(b []byte) []byte { b[0] = 1; return b }))
	add("envelope-commit-zero", "The commit number set to 0, which no commit has.",
		"envelope.parse", "ErrMalformed", "envelope commit is 0", changed(env, func(b []byte) []byte { clear(b[1:5]); return b }))
	add("envelope-seq-zero", "The sender's sequence number set to 0: sequences start at 1.",
		"envelope.parse", "ErrMalformed", "envelope seq is 0", changed(env, func(b []byte) []byte { clear(b[seqAt : seqAt+8]); return b }))
	add("envelope-empty-sender", "The sender name's length set to 0.",
		"envelope.parse", "ErrMalformed", "envelope sender name is 0 bytes", changed(env, func(b []byte) []byte { b[nameOffset] = 0; return b }))
	add("envelope-ciphertext-too-short", "The ciphertext length set to 15, less than the AEAD tag.",
		"envelope.parse", "ErrMalformed", "ciphertext is 15 bytes, too short", changed(env, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[seqAt+48:], 15)
			return b
		}))
	add("envelope-too-large", "The ciphertext length raised past MaxPlaintext.",
		"envelope.parse", "ErrTooLarge", "more than", changed(env, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[seqAt+48:], MaxPlaintext+tagSize+1)
			return b
		}))
	add("envelope-signature-flipped", "One bit of the signature flipped.",
		"envelope.verify", "ErrBadSignature", `envelope from "alice"`, changed(env, flip(-1)), msg...)
	add("envelope-seq-changed", "The sequence number changed from 2 to 3 after signing: a replay given a new place.",
		"envelope.verify", "ErrBadSignature", `envelope from "alice"`, changed(env, func(b []byte) []byte { b[seqAt+7] = 3; return b }), msg...)
	add("envelope-ciphertext-flipped-signed", "One bit of the ciphertext flipped: the signature covers it.",
		"envelope.verify", "ErrBadSignature", `envelope from "alice"`, changed(env, flip(ctAt)), msg...)
	add("envelope-other-room-signed", "The envelope as is, checked as a message of another room: a copy into it.",
		"envelope.verify", "ErrBadSignature", `envelope from "alice"`, env, "room", "random", "id", v.MessageID)
	add("envelope-other-id-signed", "The envelope as is, checked under another message ID.",
		"envelope.verify", "ErrBadSignature", `envelope from "alice"`, env, "room", v.Room, "id", "fffe4a3b2c1d0e0f0123456789abcdee")
	add("envelope-sender-renamed", `The sender name changed to "alicf", checked against alice's key.`,
		"envelope.verify", "ErrBadSignature", `envelope is from "alicf", not "alice"`, changed(env, func(b []byte) []byte { b[nameOffset+n] = 'f'; return b }), msg...)
	add("envelope-ciphertext-flipped", "One bit of the ciphertext flipped, opened without checking the signature:\nthe AEAD refuses it.",
		"envelope.open", "ErrDecrypt", `envelope from "alice" under commit 1`, changed(env, flip(ctAt)), withKey...)
	add("envelope-header-flipped", "One bit of the previous-message link flipped: the header is the AEAD's\nassociated data.",
		"envelope.open", "ErrDecrypt", `envelope from "alice" under commit 1`, changed(env, flip(seqAt+8)), withKey...)
	add("envelope-other-room", "The envelope as is, opened as a message of another room.",
		"envelope.open", "ErrDecrypt", `envelope from "alice" under commit 1`, env, "room", "random", "id", v.MessageID, "key", v.RoomKey)
	add("envelope-wrong-key", "The envelope as is, opened with the key of the next epoch.",
		"envelope.open", "ErrDecrypt", `envelope from "alice" under commit 1`, env, append(slices.Clone(msg), "key", v.WrapKeys[1])...)

	// Wraps: the vectors' wrap of two keys to alice.
	wrap := unhex(t, v.Wrap)
	info := []string{"info", v.WrapInfo}
	add("wrap-empty", "An empty wrap.", "wrap.unwrap", "ErrMalformed", "unknown room key wrap version", nil, info...)
	add("wrap-unknown-version", "The version byte set to 2.",
		"wrap.unwrap", "ErrMalformed", "unknown room key wrap version", changed(wrap, func(b []byte) []byte { b[0] = 2; return b }), info...)
	add("wrap-truncated", "The wrap less its last byte: not a whole number of keys.",
		"wrap.unwrap", "ErrMalformed", fmt.Sprintf("room key wrap is %d bytes", len(wrap)-1), wrap[:len(wrap)-1], info...)
	add("wrap-no-keys", "The wrap cut to its overhead: it carries no key.",
		"wrap.unwrap", "ErrMalformed", fmt.Sprintf("room key wrap is %d bytes", wrapOverhead), wrap[:wrapOverhead], info...)
	add("wrap-sealed-flipped", "One bit of the sealed keys flipped.",
		"wrap.unwrap", "ErrDecrypt", "room key wrap", changed(wrap, flip(-1)), info...)
	add("wrap-encapsulation-flipped", "One bit of the encapsulated key flipped.",
		"wrap.unwrap", "ErrDecrypt", "room key wrap", changed(wrap, flip(1)), info...)
	add("wrap-other-context", "The wrap as is, opened for another epoch than it was made for.",
		"wrap.unwrap", "ErrDecrypt", "room key wrap", wrap, "info", strings.Replace(v.WrapInfo, "/2/", "/3/", 1))

	// Key links: the key of epoch 1 sealed under the key of epoch 2.
	prev, err := RoomKeyFromBytes(unhex(t, v.WrapKeys[0]))
	if err != nil {
		t.Fatal(err)
	}
	next, err := RoomKeyFromBytes(unhex(t, v.WrapKeys[1]))
	if err != nil {
		t.Fatal(err)
	}
	link, err := SealKeyLink(next, v.Room, 2, prev)
	if err != nil {
		t.Fatal(err)
	}
	linkArgs := []string{"room", v.Room, "epoch", "2", "key", v.WrapKeys[1]}
	add("keylink-flipped", "One bit of the link flipped.",
		"keylink.open", "ErrDecrypt", "key link of epoch 2", changed(link, flip(0)), linkArgs...)
	add("keylink-truncated", "The link less its last byte.",
		"keylink.open", "ErrMalformed", fmt.Sprintf("key link is %d bytes", len(link)-1), link[:len(link)-1], linkArgs...)
	add("keylink-other-epoch", "The link as is, opened as the link of epoch 3.",
		"keylink.open", "ErrDecrypt", "key link of epoch 3", link, "room", v.Room, "epoch", "3", "key", v.WrapKeys[1])
	add("keylink-other-room", "The link as is, opened as a link of another room.",
		"keylink.open", "ErrDecrypt", "key link of epoch 2", link, "room", "random", "epoch", "2", "key", v.WrapKeys[1])
	add("keylink-wrong-key", "The link as is, opened with the key it links to instead of the one it is\nsealed under.",
		"keylink.open", "ErrDecrypt", "key link of epoch 2", link, "room", v.Room, "epoch", "2", "key", v.WrapKeys[0])
	aead, nonce, ad := keyLinkAEAD(next, v.Room, 2)
	add("keylink-zero-key", "A link, sealed as SealKeyLink would, to a key of all zeros: no epoch has one.",
		"keylink.open", "ErrMalformed", "room key is zero", aead.Seal(nil, nonce, make([]byte, RoomKeySize), ad), linkArgs...)

	// Keystores: the vectors' plain and encrypted keystores of alice.
	plain, enc := []byte(v.KeystorePlain), []byte(v.KeystoreEncrypted)
	pass := v.KeystorePassphrase
	rebody := func(ks []byte, change func([]byte) []byte) []byte {
		body, err := decodeKeystore(ks)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(keystoreMagic), base64.StdEncoding.EncodeToString(change(body))+"\n"...)
	}
	add("keystore-missing-magic", "The first line misspelt: not a keystore.",
		"keystore.unmarshal", "ErrBadKeystore", `missing "parley-keystore v1" line`, bytes.Replace(plain, []byte("keystore"), []byte("keystor"), 1), "passphrase", "")
	add("keystore-unknown-version", "The first line says version 9.",
		"keystore.unmarshal", "ErrBadKeystore", "unsupported version", bytes.Replace(plain, []byte(" v1"), []byte(" v9"), 1), "passphrase", "")
	add("keystore-bad-base64", "A character outside base64 in the body.",
		"keystore.unmarshal", "ErrBadKeystore", "illegal base64", bytes.Replace(plain, []byte("\n"), []byte("\n!"), 1), "passphrase", "")
	add("keystore-unknown-mode", "The mode byte set to 7: neither plain nor encrypted.",
		"keystore.unmarshal", "ErrBadKeystore", "unknown mode 7", rebody(plain, func(b []byte) []byte { b[0] = 7; return b }), "passphrase", "")
	add("keystore-plain-flipped", "One bit of the secret of a plain keystore flipped: its checksum catches it.",
		"keystore.unmarshal", "ErrBadKeystore", "checksum mismatch", rebody(plain, flip(3)), "passphrase", "")
	add("keystore-encrypted-flipped", "One bit of the sealed secret of an encrypted keystore flipped: the AEAD\nrefuses it, which reads as a wrong passphrase.",
		"keystore.unmarshal", "ErrWrongPassphrase", "wrong passphrase", rebody(enc, flip(-1)), "passphrase", pass)
	add("keystore-salt-flipped", "One bit of the salt flipped: another key is derived.",
		"keystore.unmarshal", "ErrWrongPassphrase", "wrong passphrase", rebody(enc, flip(10)), "passphrase", pass)
	add("keystore-kdf-time-zero", "The argon2id time set to 0: parameters outside the bounds are refused\nbefore any work.",
		"keystore.unmarshal", "ErrBadKeystore", "argon2id time 0 is not within", rebody(enc, func(b []byte) []byte { clear(b[1:5]); return b }), "passphrase", pass)
	add("keystore-kdf-memory-huge", "The argon2id memory raised to 4 TiB: a keystore must not make its opener\nrun out of memory.",
		"keystore.unmarshal", "ErrBadKeystore", "argon2id memory", rebody(enc, func(b []byte) []byte { binary.BigEndian.PutUint32(b[5:], 1<<32-1); return b }), "passphrase", pass)
	add("keystore-wrong-passphrase", "The encrypted keystore as is, opened with another passphrase.",
		"keystore.unmarshal", "ErrWrongPassphrase", "wrong passphrase", enc, "passphrase", "incorrect horse battery staple")
	add("keystore-no-passphrase", "The encrypted keystore as is, opened with no passphrase.",
		"keystore.unmarshal", "ErrPassphraseRequired", "passphrase required", enc, "passphrase", "")
	add("keystore-plain-truncated", "A plain keystore cut to its mode byte and part of its checksum.",
		"keystore.unmarshal", "ErrBadKeystore", "too short", rebody(plain, func(b []byte) []byte { return b[:8] }), "passphrase", "")
	return cases
}
