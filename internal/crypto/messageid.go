package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// A MessageID names one message within its room. The first 8 bytes are the
// bitwise complement of the message's time in Unix microseconds, big-endian,
// so that IDs in ascending byte (and string) order run newest first; the last
// 8 bytes are random, so two messages sent in the same microsecond still get
// different IDs.
//
// The ID is bound into the message's nonce, associated data and signature:
// an envelope moved to another ID no longer verifies or decrypts.
type MessageID [16]byte

// NewMessageID returns a new ID for a message sent at t.
func NewMessageID(t time.Time) MessageID {
	var m MessageID
	binary.BigEndian.PutUint64(m[:8], ^uint64(t.UnixMicro()))
	rand.Read(m[8:]) // never returns an error
	return m
}

// String returns the ID as 32 lowercase hexadecimal digits.
func (m MessageID) String() string {
	return hex.EncodeToString(m[:])
}

// ParseMessageID parses the form returned by MessageID.String. Uppercase
// digits are rejected, so each ID has exactly one string form.
func ParseMessageID(s string) (MessageID, error) {
	var m MessageID
	if len(s) != 2*len(m) {
		return m, fmt.Errorf("%w: message id %q is not 32 hex digits", ErrMalformed, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return m, fmt.Errorf("%w: message id %q is not 32 lowercase hex digits", ErrMalformed, s)
		}
	}
	hex.Decode(m[:], []byte(s))
	return m, nil
}

// Time returns the time encoded in the ID, to the microsecond.
func (m MessageID) Time() time.Time {
	return time.UnixMicro(int64(^binary.BigEndian.Uint64(m[:8])))
}
