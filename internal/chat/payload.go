package chat

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/parley-chat/parley/internal/crypto"
)

// Kind says what a message in a room's log is. Every kind is sealed and
// signed like a message and carried in the sender's chain.
type Kind string

// Message kinds.
const (
	KindText     Kind = "text"     // plain text
	KindReply    Kind = "reply"    // text answering ReplyTo
	KindEdit     Kind = "edit"     // new text of my message Edits
	KindDelete   Kind = "delete"   // my message Deletes is withdrawn
	KindReaction Kind = "reaction" // Reaction on message ReactTo (Unreact: taken back)
	KindTopic    Kind = "topic"    // the room's topic is now Topic
	KindUnknown  Kind = "unknown"  // a kind this version does not know
)

// The plaintext inside an envelope is one kind byte and the kind's fields:
//
//	0x01 text      text
//	0x02 reply     target id (16) || text
//	0x03 edit      target id (16) || text
//	0x04 delete    target id (16)
//	0x05 reaction  target id (16) || op (1: add, 0: remove) || emoji
//	0x06 topic     topic
const (
	tagText     = 0x01
	tagReply    = 0x02
	tagEdit     = 0x03
	tagDelete   = 0x04
	tagReaction = 0x05
	tagTopic    = 0x06
)

// MaxTopicBytes is the longest topic accepted.
const MaxTopicBytes = 200

// payload is a decoded plaintext.
type payload struct {
	kind   Kind
	tag    byte
	target crypto.MessageID
	add    bool
	text   string // text, new text, emoji or topic
}

var errPayload = errors.New("malformed message payload")

func (p payload) encode() []byte {
	b := make([]byte, 0, 1+16+1+len(p.text))
	switch p.kind {
	case KindText:
		b = append(b, tagText)
	case KindReply:
		b = append(append(b, tagReply), p.target[:]...)
	case KindEdit:
		b = append(append(b, tagEdit), p.target[:]...)
	case KindDelete:
		return append(append(b, tagDelete), p.target[:]...)
	case KindReaction:
		b = append(append(b, tagReaction), p.target[:]...)
		op := byte(0)
		if p.add {
			op = 1
		}
		b = append(b, op)
	case KindTopic:
		b = append(b, tagTopic)
	}
	return append(b, p.text...)
}

// decodePayload parses a plaintext. A kind it does not know decodes as
// KindUnknown (shown as such, never as text).
func decodePayload(b []byte) (payload, error) {
	if len(b) == 0 {
		return payload{}, fmt.Errorf("%w: empty", errPayload)
	}
	p := payload{tag: b[0]}
	rest := b[1:]
	target := func() error {
		if len(rest) < 16 {
			return fmt.Errorf("%w: no target", errPayload)
		}
		copy(p.target[:], rest[:16])
		rest = rest[16:]
		return nil
	}
	switch b[0] {
	case tagText:
		p.kind = KindText
	case tagReply:
		p.kind = KindReply
		if err := target(); err != nil {
			return p, err
		}
	case tagEdit:
		p.kind = KindEdit
		if err := target(); err != nil {
			return p, err
		}
	case tagDelete:
		p.kind = KindDelete
		if err := target(); err != nil {
			return p, err
		}
		if len(rest) != 0 {
			return p, fmt.Errorf("%w: trailing bytes", errPayload)
		}
	case tagReaction:
		p.kind = KindReaction
		if err := target(); err != nil {
			return p, err
		}
		if len(rest) < 1 || rest[0] > 1 {
			return p, fmt.Errorf("%w: bad reaction op", errPayload)
		}
		p.add, rest = rest[0] == 1, rest[1:]
		if err := checkEmoji(string(rest)); err != nil {
			return p, fmt.Errorf("%w: %v", errPayload, err)
		}
	case tagTopic:
		p.kind = KindTopic
		if len(rest) > MaxTopicBytes {
			return p, fmt.Errorf("%w: topic of %d bytes", errPayload, len(rest))
		}
	default:
		p.kind = KindUnknown
		return p, nil
	}
	if !utf8.Valid(rest) {
		return p, fmt.Errorf("%w: text is not UTF-8", errPayload)
	}
	p.text = string(rest)
	return p, nil
}

// checkEmoji accepts one grapheme cluster that is not plain text: a
// reaction is a single emoji (with its modifiers and joiners), never a
// word or a control character.
func checkEmoji(s string) error {
	if s == "" {
		return errors.New("no emoji")
	}
	if uniseg.GraphemeClusterCount(s) != 1 {
		return fmt.Errorf("reaction %q is not one emoji", s)
	}
	r, _ := utf8.DecodeRuneInString(s)
	if r < 0x80 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }) {
		return fmt.Errorf("reaction %q is not an emoji", s)
	}
	return nil
}
