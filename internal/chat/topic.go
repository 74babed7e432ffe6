package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/names"
)

// CheckTopic says why topic cannot be a room's topic, or nil: at most
// MaxTopicBytes of UTF-8 on one line (empty clears the topic).
func CheckTopic(topic string) error {
	switch {
	case len(topic) > MaxTopicBytes:
		return fmt.Errorf("topic of %d bytes: at most %d", len(topic), MaxTopicBytes)
	case !utf8.ValidString(topic):
		return errors.New("topic is not valid UTF-8")
	case strings.ContainsAny(topic, "\n\r"):
		return errors.New("a topic is one line")
	}
	return nil
}

// CheckReaction says why emoji cannot be a reaction, or nil: a reaction
// is one grapheme cluster (an emoji with its modifiers and joiners), not a
// word, a letter or a control character.
func CheckReaction(emoji string) error { return checkEmoji(emoji) }

// errTopicFound stops Topic's read once it has what it wants.
var errTopicFound = errors.New("topic found")

// Topic returns the newest topic change of room (found false if the room
// never had one). It reads the history newest page first and stops at the
// first page that holds one, so a topic set recently costs one page; a
// room that never had a topic is read whole.
func (s *Service) Topic(ctx context.Context, room names.Room) (m Message, found bool, err error) {
	_, err = s.StreamHistory(ctx, room, 0, func(p *Page) error {
		for i := len(p.Messages) - 1; i >= 0; i-- {
			if t := p.Messages[i]; t.Kind == KindTopic && t.Rejected == "" {
				m, found = t, true
				return errTopicFound
			}
		}
		return nil
	})
	if errors.Is(err, errTopicFound) {
		err = nil
	}
	return m, found, err
}
