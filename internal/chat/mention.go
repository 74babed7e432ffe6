package chat

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/internal/names"
)

// Mention is one mention in a text: "@name" from byte Start to End (the
// "@" included), naming User in canonical form.
type Mention struct {
	User       string
	Start, End int
}

// MentionsIn returns the mentions of text, in order. A mention is "@name"
// standing as a word of its own: after the start of the text or a
// character that cannot be part of a name (so "bob@example.com" mentions
// nobody), with a trailing full stop or hyphen taken for punctuation
// ("thanks @bob.").
func MentionsIn(text string) []Mention {
	var out []Mention
	prev := rune(-1)
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r != '@' || (prev >= 0 && (nameRune(prev) || prev == '@')) {
			prev = r
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			c, n := utf8.DecodeRuneInString(text[j:])
			if !nameRune(c) {
				break
			}
			j += n
		}
		end := j
		for end > i+size && (text[end-1] == '.' || text[end-1] == '-') {
			end--
		}
		if end > i+size {
			if u, err := names.ParseUser(text[i+size : end]); err == nil {
				out = append(out, Mention{User: string(u), Start: i, End: end})
			}
		}
		prev, _ = utf8.DecodeLastRuneInString(text[:j])
		i = j
	}
	return out
}

// Mentions returns the users text mentions (see MentionsIn), each once,
// in the order they first appear.
func Mentions(text string) []string {
	var out []string
	for _, m := range MentionsIn(text) {
		if !slices.Contains(out, m.User) {
			out = append(out, m.User)
		}
	}
	return out
}

// nameRune reports whether r may be part of a user name.
func nameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '-' || r == '_' || r == '.'
}

// MentionsUser reports whether text mentions user (a canonical name).
func MentionsUser(text, user string) bool {
	for _, u := range Mentions(text) {
		if u == user {
			return true
		}
	}
	return false
}

// Mentions reports whether m mentions user (a canonical name): a message
// or a reply from someone else with "@user" in its text, or a reply to one
// of user's messages (its Quote, as Fold or a live delivery set it).
// Edits, deletions, reactions and topics never mention anyone, nor do
// rejected records.
func (m Message) Mentions(user string) bool {
	if m.Rejected != "" || m.Sender == user || (m.Kind != KindText && m.Kind != KindReply && m.Kind != "") {
		return false
	}
	if m.Kind == KindReply && m.Quote != nil && m.Quote.Sender == user {
		return true
	}
	return MentionsUser(m.Text, user)
}
