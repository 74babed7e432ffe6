package chat

import (
	"bytes"
	"testing"

	"github.com/parley-chat/parley/internal/crypto"
)

// FuzzDecodePayload feeds arbitrary plaintexts (what a member could seal)
// to the payload decoder: no panic, and whatever decodes encodes back to
// the same bytes.
func FuzzDecodePayload(f *testing.F) {
	var id crypto.MessageID
	id[3] = 7
	for _, p := range []payload{
		{kind: KindText, text: "hi"},
		{kind: KindReply, target: id, text: "yes"},
		{kind: KindEdit, target: id, text: "fixed"},
		{kind: KindDelete, target: id},
		{kind: KindReaction, target: id, add: true, text: "👍"},
		{kind: KindTopic, text: "food"},
	} {
		f.Add(p.encode())
	}
	f.Add([]byte{0x7f, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil || p.kind == KindUnknown {
			return
		}
		if got := p.encode(); !bytes.Equal(got, b) {
			t.Fatalf("decode-encode: %x, want %x", got, b)
		}
	})
}

func TestCheckEmoji(t *testing.T) {
	for in, ok := range map[string]bool{"👍": true, "👍🏽": true, "👨‍👩‍👧": true, "🇫🇷": true, "a": false, "": false, "👍👍": false, "\x1b": false, "ok": false} {
		if err := checkEmoji(in); (err == nil) != ok {
			t.Errorf("checkEmoji(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}
