package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// testMessage is a sealed message together with what it was sealed with.
type testMessage struct {
	sender    *Identity
	key       RoomKey
	room      string
	id        MessageID
	header    Header
	plaintext []byte
	sealed    []byte
}

func sealTestMessage(tb testing.TB, plaintext []byte) testMessage {
	tb.Helper()
	m := testMessage{
		sender: fixedIdentity(tb, "alice"),
		key:    fixedRoomKey(tb, "general 1"),
		room:   "general",
		id:     fixedMessageID("1"),
		header: Header{
			Commit:       1,
			CommitDigest: [16]byte{0: 9, 15: 7},
			Sender:       "alice",
			Seq:          7,
			Prev:         [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			Seen:         [16]byte{0: 0xaa, 15: 0xbb},
			Time:         1767225600000,
		},
		plaintext: plaintext,
	}
	var err error
	m.sealed, err = SealMessage(m.sender, m.key, m.room, m.id, m.header, m.plaintext)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestSealOpenRoundTrip(t *testing.T) {
	key := NewRoomKey()
	for _, sender := range []string{"a", "alice", strings.Repeat("é", MaxNameBytes/2)} {
		id := mustNewIdentity(t, sender)
		for _, size := range []int{0, 1, 100, 1000, MaxPlaintext} {
			for _, room := range []string{"", "general", strings.Repeat("r", 2000)} {
				plaintext := bytes.Repeat([]byte{'p'}, size)
				mid := NewMessageID(time.Now())
				h := Header{Commit: 3, Sender: sender, Seq: 1, Time: time.Now().UnixMilli()}
				sealed, err := SealMessage(id, key, room, mid, h, plaintext)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := len(sealed), len(plaintext)+EnvelopeOverhead+len(sender); got != want {
					t.Errorf("sealed %d bytes from %q: %d bytes, want %d", size, sender, got, want)
				}
				e, err := ParseEnvelope(sealed)
				if err != nil {
					t.Fatal(err)
				}
				if e.Header != h {
					t.Errorf("header %+v, want %+v", e.Header, h)
				}
				if e.CiphertextLen() != size+16 {
					t.Errorf("CiphertextLen %d, want %d", e.CiphertextLen(), size+16)
				}
				if !bytes.Equal(e.Marshal(), sealed) {
					t.Error("Marshal does not return the parsed bytes")
				}
				if err := e.Verify(room, mid, id.Public()); err != nil {
					t.Errorf("Verify: %v", err)
				}
				got, err := e.Open(key, room, mid)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !bytes.Equal(got, plaintext) {
					t.Error("Open returned another plaintext")
				}
			}
		}
	}
}

func TestEnvelopeOverhead(t *testing.T) {
	if EnvelopeOverhead != 154 {
		t.Errorf("EnvelopeOverhead = %d, want 154", EnvelopeOverhead)
	}
}

func TestSealMessageErrors(t *testing.T) {
	alice := fixedIdentity(t, "alice")
	key := fixedRoomKey(t, "k")
	id := fixedMessageID("1")
	h := Header{Commit: 1, Sender: "alice", Seq: 1}
	tests := []struct {
		name      string
		sender    *Identity
		key       RoomKey
		h         Header
		plaintext []byte
		wantErr   error
	}{
		{"nil sender", nil, key, h, nil, nil},
		{"other sender", alice, key, Header{Commit: 1, Sender: "bob", Seq: 1}, nil, nil},
		{"zero epoch", alice, key, Header{Sender: "alice", Seq: 1}, nil, nil},
		{"zero seq", alice, key, Header{Commit: 1, Sender: "alice"}, nil, nil},
		{"zero key", alice, RoomKey{}, h, nil, nil},
		{"too large", alice, key, h, make([]byte, MaxPlaintext+1), ErrTooLarge},
	}
	for _, tt := range tests {
		_, err := SealMessage(tt.sender, tt.key, "room", id, tt.h, tt.plaintext)
		if err == nil {
			t.Errorf("%s: succeeded", tt.name)
		} else if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
}

func TestEnvelopeRejects(t *testing.T) {
	m := sealTestMessage(t, []byte("hello, world"))
	e, err := ParseEnvelope(m.sealed)
	if err != nil {
		t.Fatal(err)
	}
	bob := fixedIdentity(t, "bob")
	// An identity named alice with bob's keys: the name matches but the key
	// does not.
	fakeAlice, err := NewPublicIdentity("alice", bob.Public().SigningKey(), bob.Public().KEMKey())
	if err != nil {
		t.Fatal(err)
	}
	otherID := fixedMessageID("2")

	verifyTests := []struct {
		name   string
		room   string
		id     MessageID
		sender *PublicIdentity
	}{
		{"other room", "random", m.id, m.sender.Public()},
		{"room with suffix", m.room + "x", m.id, m.sender.Public()},
		{"other id", m.room, otherID, m.sender.Public()},
		{"other sender", m.room, m.id, bob.Public()},
		{"other key under the sender's name", m.room, m.id, fakeAlice},
		{"nil sender", m.room, m.id, nil},
	}
	for _, tt := range verifyTests {
		if err := e.Verify(tt.room, tt.id, tt.sender); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify with %s: %v, want ErrBadSignature", tt.name, err)
		}
	}

	openTests := []struct {
		name string
		key  RoomKey
		room string
		id   MessageID
	}{
		{"other key", fixedRoomKey(t, "other"), m.room, m.id},
		{"zero key", RoomKey{}, m.room, m.id},
		{"other room", m.key, "random", m.id},
		{"other id", m.key, m.room, otherID},
	}
	for _, tt := range openTests {
		if _, err := e.Open(tt.key, tt.room, tt.id); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open with %s: %v, want ErrDecrypt", tt.name, err)
		}
	}
}

// TestEnvelopeTamper flips bits in every byte of an envelope and checks that
// the result fails to parse, verify or (for bytes before the signature)
// decrypt, and never panics.
func TestEnvelopeTamper(t *testing.T) {
	m := sealTestMessage(t, []byte("meet at noon"))
	sigStart := len(m.sealed) - 64
	for i := range m.sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(m.sealed)
			b[i] ^= mask
			e, err := ParseEnvelope(b)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Errorf("byte %d ^ %#x: parse error %v wraps neither ErrMalformed nor ErrTooLarge", i, mask, err)
				}
				continue
			}
			if err := e.Verify(m.room, m.id, m.sender.Public()); err == nil {
				t.Errorf("byte %d ^ %#x: Verify succeeded", i, mask)
			}
			_, err = e.Open(m.key, m.room, m.id)
			if i < sigStart && err == nil {
				t.Errorf("byte %d ^ %#x: Open succeeded", i, mask)
			}
		}
	}
}

func TestParseEnvelopeStrict(t *testing.T) {
	m := sealTestMessage(t, []byte("hi"))
	n := len(m.header.Sender)
	// set returns a copy of the sealed envelope with f applied.
	set := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(m.sealed)) }
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"empty", nil, ErrMalformed},
		{"one byte", []byte{1}, ErrMalformed},
		{"version 0", set(func(b []byte) []byte { b[0] = 0; return b }), ErrMalformed},
		{"version 1", set(func(b []byte) []byte { b[0] = 1; return b }), ErrMalformed},
		{"version 3", set(func(b []byte) []byte { b[0] = 3; return b }), ErrMalformed},
		{"commit 0", set(func(b []byte) []byte { clear(b[1:5]); return b }), ErrMalformed},
		{"empty sender", set(func(b []byte) []byte { b[21] = 0; return b }), ErrMalformed},
		{"sender too long", set(func(b []byte) []byte { b[21] = MaxNameBytes + 1; return b }), ErrMalformed},
		{"sender past end", set(func(b []byte) []byte { b[21] = 255; return b }), ErrMalformed},
		{"seq 0", set(func(b []byte) []byte { clear(b[22+n : 30+n]); return b }), ErrMalformed},
		{"ciphertext length short", set(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[70+n:], 15)
			return b
		}), ErrMalformed},
		{"ciphertext length +1", set(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[70+n:], binary.BigEndian.Uint32(b[70+n:])+1)
			return b
		}), ErrMalformed},
		{"ciphertext length -1", set(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[70+n:], binary.BigEndian.Uint32(b[70+n:])-1)
			return b
		}), ErrMalformed},
		{"ciphertext length huge", set(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[70+n:], 0xffffffff)
			return b
		}), ErrTooLarge},
		{"plaintext just too large", set(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[70+n:], MaxPlaintext+17)
			return b
		}), ErrTooLarge},
		{"trailing byte", append(bytes.Clone(m.sealed), 0), ErrMalformed},
		{"missing byte", m.sealed[:len(m.sealed)-1], ErrMalformed},
		{"no signature", m.sealed[:len(m.sealed)-64], ErrMalformed},
		{"too large", make([]byte, maxEnvelopeSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		_, err := ParseEnvelope(tt.data)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	for i := range m.sealed {
		if _, err := ParseEnvelope(m.sealed[:i]); err == nil {
			t.Errorf("truncated to %d bytes: parsed", i)
		}
	}
}

func TestEnvelopeLargest(t *testing.T) {
	sender := fixedIdentity(t, strings.Repeat("s", MaxNameBytes))
	key := fixedRoomKey(t, "k")
	id := fixedMessageID("1")
	h := Header{Commit: 0xffffffff, Sender: sender.Name(), Seq: 1 << 63, Time: -1}
	sealed, err := SealMessage(sender, key, "r", id, h, make([]byte, MaxPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != maxEnvelopeSize {
		t.Errorf("largest envelope is %d bytes, want %d", len(sealed), maxEnvelopeSize)
	}
	e, err := ParseEnvelope(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if e.Header != h {
		t.Errorf("header %+v, want %+v", e.Header, h)
	}
	if err := e.Verify("r", id, sender.Public()); err != nil {
		t.Error(err)
	}
	if _, err := e.Open(key, "r", id); err != nil {
		t.Error(err)
	}
}

func TestEnvelopeImmutable(t *testing.T) {
	m := sealTestMessage(t, []byte("hi"))
	data := bytes.Clone(m.sealed)
	e, err := ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	hash := e.ChainHash()
	clear(data) // the caller reuses its buffer
	e.Sender = "bob"
	e.Seq = 99
	out := e.Marshal()
	out[0] = 0xff
	if err := e.Verify(m.room, m.id, m.sender.Public()); err != nil {
		t.Errorf("Verify after changes outside the envelope: %v", err)
	}
	if _, err := e.Open(m.key, m.room, m.id); err != nil {
		t.Errorf("Open after changes outside the envelope: %v", err)
	}
	if e.ChainHash() != hash || !bytes.Equal(e.Marshal(), m.sealed) {
		t.Error("envelope changed")
	}
}

func TestChainHash(t *testing.T) {
	a := sealTestMessage(t, []byte("one"))
	b := sealTestMessage(t, []byte("two"))
	ea, _ := ParseEnvelope(a.sealed)
	eb, _ := ParseEnvelope(b.sealed)
	if ea.ChainHash() == eb.ChainHash() {
		t.Error("different envelopes have the same chain hash")
	}
	if ea.ChainHash() == [16]byte{} {
		t.Error("zero chain hash")
	}
	// A chain of three messages, each pointing at the last.
	alice := fixedIdentity(t, "alice")
	key := NewRoomKey()
	var prev [16]byte
	for seq := uint64(1); seq <= 3; seq++ {
		id := NewMessageID(time.Now())
		sealed, err := SealMessage(alice, key, "general", id, Header{Commit: 1, Sender: "alice", Seq: seq, Prev: prev}, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseEnvelope(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if e.Prev != prev {
			t.Errorf("seq %d: prev %x, want %x", seq, e.Prev, prev)
		}
		prev = e.ChainHash()
	}
}

// TestSealDeterministic checks that sealing is a function of its inputs:
// the nonce is derived and Ed25519 is deterministic.
func TestSealDeterministic(t *testing.T) {
	a := sealTestMessage(t, []byte("same"))
	b := sealTestMessage(t, []byte("same"))
	if !bytes.Equal(a.sealed, b.sealed) {
		t.Error("sealing the same message twice gave different envelopes")
	}
}

// TestNonceSeparation checks that the nonce differs whenever room, ID or
// sender does, including when bytes move between room and sender.
func TestNonceSeparation(t *testing.T) {
	id := fixedMessageID("1")
	seen := map[[nonceSize]byte]string{}
	for _, c := range []struct{ room, sender string }{
		{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"ab", "d"},
	} {
		n := messageNonce(c.room, id, c.sender)
		if prev, ok := seen[n]; ok {
			t.Errorf("%v and %v share a nonce", prev, c)
		}
		seen[n] = c.room + "/" + c.sender
	}
	if messageNonce("ab", id, "c") == messageNonce("ab", fixedMessageID("2"), "c") {
		t.Error("nonce does not depend on the message id")
	}
	if messageNonce("ab", id, "c") != messageNonce("ab", id, []byte("c")) {
		t.Error("nonce depends on how the sender is passed")
	}
}
