package chat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/names"
)

// ErrEmptyQuery means a search was given no words.
var ErrEmptyQuery = errors.New("search for what? give one or more words")

// Query is what a search looks for: words that must all appear in a
// message, each anywhere in it, ignoring case (Unicode simple folding).
// The zero Query matches nothing.
type Query struct {
	words []string
}

// ParseQuery splits s into the words of a query; s with no words is
// ErrEmptyQuery.
func ParseQuery(s string) (Query, error) {
	words := strings.Fields(s)
	if len(words) == 0 {
		return Query{}, ErrEmptyQuery
	}
	if !utf8.ValidString(s) {
		return Query{}, errors.New("search words are not valid UTF-8")
	}
	return Query{words: words}, nil
}

// Words returns the query's words.
func (q Query) Words() []string { return slices.Clone(q.words) }

// Match reports whether text holds every word of q.
func (q Query) Match(text string) bool {
	if len(q.words) == 0 {
		return false
	}
	for _, w := range q.words {
		if indexFold(text, w, 0) < 0 {
			return false
		}
	}
	return true
}

// Spans returns where the words of q occur in text, as byte ranges
// [start, end), in order and not overlapping: what a front end highlights.
func (q Query) Spans(text string) [][2]int {
	var spans [][2]int
	for _, w := range q.words {
		for i := 0; i < len(text); {
			j := indexFold(text, w, i)
			if j < 0 {
				break
			}
			end := j + foldLen(text[j:], w)
			spans = append(spans, [2]int{j, end})
			i = end
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	// Merge overlaps ("ab" and "bc" in "abc").
	var out [][2]int
	for _, s := range spans {
		if n := len(out); n > 0 && s[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}

// indexFold returns the byte index of the first match of word in text at
// or after from, ignoring case, or -1.
func indexFold(text, word string, from int) int {
	if word == "" {
		return -1
	}
	first, _ := utf8.DecodeRuneInString(word)
	for i := from; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if equalFoldRune(r, first) {
			if n := foldLen(text[i:], word); n > 0 {
				return i
			}
		}
		i += size
	}
	return -1
}

// foldLen returns how many bytes at the start of s match word ignoring
// case, or 0 if s does not start with word.
func foldLen(s, word string) int {
	i := 0
	for _, w := range word {
		if i >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !equalFoldRune(r, w) {
			return 0
		}
		i += size
	}
	return i
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	var buf [2 * utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], a)
	m := utf8.EncodeRune(buf[n:], b)
	return strings.EqualFold(string(buf[:n]), string(buf[n:n+m]))
}

// SearchResult is what Search found in one room.
type SearchResult struct {
	Room string `json:"room"`
	// Matches are the messages found, in their final state (as Fold
	// gives it: edited text, not deleted), newest first.
	Matches []Message `json:"matches"`
	// Searched is how many messages and topic changes were looked at.
	Searched int `json:"searched"`
	// Warnings are those of the history read (see Page).
	Warnings []string `json:"warnings,omitempty"`
}

// Search finds the messages of room that match q: text messages and
// replies by their final text, topic changes by their topic. It reads the
// whole history into memory, verified and decrypted as History does (the
// verified-digest cache spares the signatures of records seen before),
// and writes nothing: no plaintext reaches the disk.
func (s *Service) Search(ctx context.Context, room names.Room, q Query) (SearchResult, error) {
	p, err := s.History(ctx, room, 0)
	if err != nil {
		return SearchResult{}, err
	}
	res := SearchResult{Room: p.Room, Warnings: p.Warnings}
	folded := Fold(p.Messages)
	for i := len(folded) - 1; i >= 0; i-- {
		m := folded[i]
		if m.Rejected != "" || m.Deleted {
			continue
		}
		var text string
		switch m.Kind {
		case KindText, KindReply:
			text = m.Text
		case KindTopic:
			text = m.Topic
		default:
			continue
		}
		res.Searched++
		if q.Match(text) {
			res.Matches = append(res.Matches, m)
		}
	}
	return res, nil
}
