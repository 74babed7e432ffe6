package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hdevalence/ed25519consensus"
	"golang.org/x/crypto/chacha20poly1305"
)

// MaxPlaintext is the largest message plaintext, in bytes.
const MaxPlaintext = 64 << 10

// EnvelopeOverhead is how many bytes an envelope adds to its plaintext, not
// counting the sender name: 74 bytes of header, the 16-byte authentication
// tag and the 64-byte signature. A sealed envelope is
// len(plaintext) + EnvelopeOverhead + len(sender) bytes.
const EnvelopeOverhead = headerFixedSize + tagSize + sigSize

const (
	envelopeVersion = 0x02
	headerFixedSize = 1 + 4 + 16 + 1 + 8 + 16 + 16 + 8 + 4
	nameOffset      = 1 + 4 + 16 // where the sender name's length byte is
	tagSize         = chacha20poly1305.Overhead
	sigSize         = ed25519.SignatureSize
	nonceSize       = chacha20poly1305.NonceSizeX
	maxEnvelopeSize = EnvelopeOverhead + MaxNameBytes + MaxPlaintext
)

// A Header is the plaintext, signed part of an envelope.
type Header struct {
	// Commit is the number of the room's membership commit the message
	// was sealed under, from 1; its key epoch's key encrypts the message.
	Commit uint32
	// CommitDigest is the first 16 bytes of that commit's digest, so a
	// reader notices a message sealed under a commit that is not the one
	// its chain holds (a forked or rewritten chain).
	CommitDigest [16]byte
	Sender       string   // sender's user name, 1 to MaxNameBytes bytes
	Seq          uint64   // sender's sequence number in this room, from 1
	Prev         [16]byte // id of the sender's previous message in this room; zero for Seq 1
	// Seen is the id of the newest message the sender had seen in the
	// room when sending (zero if none): a causal link, so readers notice
	// a message shown before one it says it followed.
	Seen [16]byte
	Time int64 // Unix milliseconds, by the sender's clock
}

// An Envelope is one chat message as stored, parsed but not yet verified.
//
// The embedded Header is a decoded copy of the envelope's header: changing
// it changes nothing that Marshal, Verify, Open or ChainHash see.
//
// The encoded envelope is laid out as follows, with all integers big-endian
// and n the length of the sender name:
//
//	offset    size  field
//	0         1     version, 0x02
//	1         4     commit, uint32, at least 1
//	5         16    commit digest (first 16 bytes)
//	21        1     sender name length n, 1 to MaxNameBytes
//	22        n     sender name
//	22+n      8     seq, uint64, at least 1
//	30+n      16    prev, id of the sender's previous message in the room
//	46+n      16    seen, id of the newest message the sender had seen
//	62+n      8     time, int64 Unix milliseconds
//	70+n      4     ciphertext length c, uint32, 16 to MaxPlaintext+16
//	74+n      c     ciphertext: XChaCha20-Poly1305 of the plaintext
//	74+n+c    64    Ed25519 signature
//
// The first 74+n bytes are the encoded header. The fields are fixed-size so
// that an envelope is always EnvelopeOverhead + n + len(plaintext) bytes.
//
// With lp(x) meaning the 4-byte length of x followed by x, and
// prefix = lp("parley/v1/message-signature") || lp(room) || id:
//
//   - the nonce is the first 24 bytes of
//     SHA-256(lp("parley/v1/message-nonce") || lp(room) || id || lp(sender));
//   - the associated data is prefix || encoded header;
//   - the signature is Ed25519 over prefix || every envelope byte before
//     the signature. It covers the ciphertext, so an envelope can be
//     verified before it is decrypted, and by anyone who knows the sender's
//     public identity.
//
// The nonce is derived, not stored. Since a message ID is fresh for every
// message, so is the nonce; a caller must never seal two different
// plaintexts with the same room, ID, sender and key.
type Envelope struct {
	Header
	raw      []byte // the envelope, exactly as parsed
	ctOffset int    // where the ciphertext starts in raw
}

// SealMessage encrypts plaintext under the room key and signs the result
// with sender's identity, for the given room and message ID. It returns the
// encoded envelope.
//
// h.Sender must be sender's name, h.Commit and h.Seq at least 1, and
// plaintext at most MaxPlaintext bytes (else ErrTooLarge).
func SealMessage(sender *Identity, key RoomKey, room string, id MessageID, h Header, plaintext []byte) ([]byte, error) {
	if sender == nil {
		return nil, errors.New("seal message: no sender identity")
	}
	if h.Sender != sender.name {
		return nil, fmt.Errorf("seal message: header sender %q is not the identity's name %q", h.Sender, sender.name)
	}
	if h.Commit == 0 || h.Seq == 0 {
		return nil, errors.New("seal message: commit and seq must be at least 1")
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("seal message: plaintext is %d bytes, more than %d: %w", len(plaintext), MaxPlaintext, ErrTooLarge)
	}
	if key.IsZero() {
		return nil, fmt.Errorf("seal message: %w", errZeroKey)
	}
	aead, err := chacha20poly1305.NewX(key.k[:])
	if err != nil {
		return nil, fmt.Errorf("seal message: %w", err)
	}

	// Build lp(label) || lp(room) || id || envelope in one buffer: its
	// prefix up to the end of the header is the associated data, and
	// everything before the signature is what gets signed. The envelope is
	// the tail of the buffer.
	prefix := signedPrefixLen(room)
	size := len(plaintext) + EnvelopeOverhead + len(h.Sender)
	buf := make([]byte, 0, prefix+size)
	buf = appendSignedPrefix(buf, room, id)
	buf = appendHeader(buf, &h, len(plaintext)+tagSize)
	nonce := messageNonce(room, id, h.Sender)
	ct := aead.Seal(buf[len(buf):len(buf)], nonce[:], plaintext, buf)
	buf = buf[:len(buf)+len(ct)]
	buf = append(buf, ed25519.Sign(sender.signing, buf)...)
	return buf[prefix:], nil
}

// ParseEnvelope decodes an envelope, checking its structure but not its
// signature or ciphertext: call Verify and Open for those. It rejects
// unknown versions, out-of-range fields, lengths that do not match and
// trailing bytes, with an error wrapping ErrMalformed or ErrTooLarge.
// The envelope keeps a copy of data.
func ParseEnvelope(data []byte) (*Envelope, error) {
	if len(data) > maxEnvelopeSize {
		return nil, fmt.Errorf("%w: envelope is %d bytes, more than %d", ErrTooLarge, len(data), maxEnvelopeSize)
	}
	if len(data) < EnvelopeOverhead+1 {
		return nil, fmt.Errorf("%w: envelope is %d bytes, too short", ErrMalformed, len(data))
	}
	if data[0] != envelopeVersion {
		return nil, fmt.Errorf("%w: unknown envelope version %d", ErrMalformed, data[0])
	}
	n := int(data[nameOffset])
	if n == 0 || n > MaxNameBytes {
		return nil, fmt.Errorf("%w: envelope sender name is %d bytes", ErrMalformed, n)
	}
	hdr := headerFixedSize + n
	if len(data) < hdr+tagSize+sigSize {
		return nil, fmt.Errorf("%w: envelope is %d bytes, too short", ErrMalformed, len(data))
	}
	p := nameOffset + 1 + n
	commit := binary.BigEndian.Uint32(data[1:5])
	seq := binary.BigEndian.Uint64(data[p:])
	ctLen := binary.BigEndian.Uint32(data[p+48:])
	if commit == 0 {
		return nil, fmt.Errorf("%w: envelope commit is 0", ErrMalformed)
	}
	if seq == 0 {
		return nil, fmt.Errorf("%w: envelope seq is 0", ErrMalformed)
	}
	if ctLen < tagSize {
		return nil, fmt.Errorf("%w: envelope ciphertext is %d bytes, too short", ErrMalformed, ctLen)
	}
	if ctLen-tagSize > MaxPlaintext {
		return nil, fmt.Errorf("%w: envelope plaintext is %d bytes, more than %d", ErrTooLarge, ctLen-tagSize, MaxPlaintext)
	}
	if hdr+int(ctLen)+sigSize != len(data) {
		return nil, fmt.Errorf("%w: envelope is %d bytes, its header says %d", ErrMalformed, len(data), hdr+int(ctLen)+sigSize)
	}

	raw := clone(data)
	e := &Envelope{
		Header: Header{
			Commit: commit,
			Sender: string(raw[nameOffset+1 : p]),
			Seq:    seq,
			Time:   int64(binary.BigEndian.Uint64(raw[p+40:])),
		},
		raw:      raw,
		ctOffset: hdr,
	}
	copy(e.CommitDigest[:], raw[5:nameOffset])
	copy(e.Prev[:], raw[p+8:p+24])
	copy(e.Seen[:], raw[p+24:p+40])
	return e, nil
}

// Marshal returns the envelope's encoding: a copy of the bytes it was
// parsed from.
func (e *Envelope) Marshal() []byte {
	return clone(e.raw)
}

// Verify checks that the envelope was signed by sender, as the message with
// the given ID in the given room. It returns an error wrapping
// ErrBadSignature if the signature does not verify or sender's name is not
// the envelope's sender.
func (e *Envelope) Verify(room string, id MessageID, sender *PublicIdentity) error {
	if sender == nil {
		return fmt.Errorf("%w: no sender identity", ErrBadSignature)
	}
	if string(e.sender()) != sender.name {
		return fmt.Errorf("%w: envelope is from %q, not %q", ErrBadSignature, e.sender(), sender.name)
	}
	var stack [1024]byte
	m := appendSignedPrefix(stack[:0], room, id)
	m = append(m, e.raw[:len(e.raw)-sigSize]...)
	// ZIP-215 rules, as in BatchVerifier, so one answer for both.
	if !ed25519consensus.Verify(sender.signing, m, e.raw[len(e.raw)-sigSize:]) {
		return fmt.Errorf("%w: envelope from %q", ErrBadSignature, sender.name)
	}
	return nil
}

// Open decrypts the envelope as the message with the given ID in the given
// room, and returns its plaintext. It returns an error wrapping ErrDecrypt
// if the key, room or ID is wrong, or the envelope was changed.
//
// Open checks that the ciphertext is authentic to holders of the room key,
// not that the sender wrote it: call Verify for that.
func (e *Envelope) Open(key RoomKey, room string, id MessageID) ([]byte, error) {
	if key.IsZero() {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, errZeroKey)
	}
	aead, err := chacha20poly1305.NewX(key.k[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	// The nonce and the associated data share one buffer, to save an
	// allocation.
	var stack [256]byte
	nonce := messageNonce(room, id, e.sender())
	buf := append(stack[:0], nonce[:]...)
	buf = appendSignedPrefix(buf, room, id)
	buf = append(buf, e.raw[:e.ctOffset]...)
	plaintext, err := aead.Open(nil, buf[:nonceSize], e.raw[e.ctOffset:len(e.raw)-sigSize], buf[nonceSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: envelope from %q under commit %d", ErrDecrypt, e.sender(), e.Commit)
	}
	return plaintext, nil
}

// ChainHash returns the first 16 bytes of
// SHA-256(lp("parley/v2/chain-hash") || envelope): a digest of the exact
// envelope, for callers that identify records by content. (Header.Prev
// carries the previous message's id, not this digest: the id is signed
// into that message, so it names it as well.)
func (e *Envelope) ChainHash() [16]byte {
	h := sha256.New()
	var label [4 + len(labelChainHash)]byte
	h.Write(appendLP(label[:0], labelChainHash))
	h.Write(e.raw)
	var sum [sha256.Size]byte
	var out [16]byte
	copy(out[:], h.Sum(sum[:0]))
	return out
}

// CiphertextLen returns the length of the envelope's ciphertext, which is
// the plaintext's length plus 16.
func (e *Envelope) CiphertextLen() int {
	return len(e.raw) - sigSize - e.ctOffset
}

// sender returns the sender name as stored in the envelope.
func (e *Envelope) sender() []byte {
	return e.raw[nameOffset+1 : nameOffset+1+int(e.raw[nameOffset])]
}

// appendHeader appends the encoded header of h, for a ciphertext of ctLen
// bytes.
func appendHeader(b []byte, h *Header, ctLen int) []byte {
	b = append(b, envelopeVersion)
	b = binary.BigEndian.AppendUint32(b, h.Commit)
	b = append(b, h.CommitDigest[:]...)
	b = append(b, byte(len(h.Sender)))
	b = append(b, h.Sender...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = append(b, h.Prev[:]...)
	b = append(b, h.Seen[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time))
	return binary.BigEndian.AppendUint32(b, uint32(ctLen))
}

// appendSignedPrefix appends what precedes the envelope in the message that
// is signed, and in the associated data.
func appendSignedPrefix(b []byte, room string, id MessageID) []byte {
	b = appendLP(b, labelMessage)
	b = appendLP(b, room)
	return append(b, id[:]...)
}

func signedPrefixLen(room string) int {
	return lpLen(labelMessage) + lpLen(room) + len(MessageID{})
}

// messageNonce derives the nonce of the message with the given ID, sent in
// room by sender.
func messageNonce[S ~string | ~[]byte](room string, id MessageID, sender S) [nonceSize]byte {
	var stack [256]byte
	b := appendLP(stack[:0], labelMessageNonce)
	b = appendLP(b, room)
	b = append(b, id[:]...)
	b = appendLP(b, sender)
	sum := sha256.Sum256(b)
	var nonce [nonceSize]byte
	copy(nonce[:], sum[:])
	return nonce
}
