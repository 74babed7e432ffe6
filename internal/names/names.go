// Package names defines what a Parley user name and room name may be, and
// the canonical form both take before they are compared or stored.
//
// A name is 1 to 32 characters (at most 64 bytes in UTF-8) of Unicode
// letters, digits and marks, plus '-', '_' and '.', starting with a letter
// or digit, written in one script (or in Latin with the scripts of
// Japanese, Chinese or Korean), so that a name cannot pass for another by
// mixing look-alike letters ("pаypal" with a Cyrillic "а"). User names take
// RFC 8265's username profile: full-width forms folded, lower case, so
// "Bob", "bob" and "ｂｏｂ" are one user; room names keep their case, with
// compatibility forms folded (NFKC). Both end in Unicode NFC, so visually
// identical spellings are one name. Look-alikes within one script
// ("асе", all Cyrillic, next to "ace") remain possible.
package names

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest name, in characters; MaxBytes bounds its UTF-8
// encoding, which keys and signed headers carry.
const (
	MaxLen   = 32
	MaxBytes = 64
)

// Direct room names start with DirectPrefix, followed by the two user names
// in byte order, joined by DirectSep; neither character can appear in a
// valid name, so a direct room can never collide with a group room.
const (
	DirectPrefix = "@"
	DirectSep    = "+"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid name")

// Allowed describes the rule for error messages and help.
const Allowed = "1-32 letters, digits, '-', '_' or '.', starting with a letter or digit"

// User is a user name in canonical form. ParseUser makes one; a
// conversion from a string skips the check and belongs only to constants
// (tests) and to values a parser returned before.
type User string

// Room is a room name in canonical form: a group room name or a direct
// room name (DirectRoom). ParseRoom, ParseGroupRoom, ParseRoomArg and
// DirectRoom make one; as for User, a conversion skips the check.
type Room string

// String returns u as a string.
func (u User) String() string { return string(u) }

// String returns r as a string.
func (r Room) String() string { return string(r) }

// ParseUser returns the canonical form of a user name, or an error saying
// what is allowed.
func ParseUser(s string) (User, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: user name is not valid UTF-8; use %s", ErrInvalid, Allowed)
	}
	// RFC 8265's username profile: full-width forms to their usual width,
	// lower case, NFC; it refuses spaces, symbols and controls.
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: user name %q: %v; use %s", ErrInvalid, s, err, Allowed)
	}
	c, err := canonical("user name", u)
	return User(c), err
}

// ParseGroupRoom returns the canonical form of a group room name:
// compatibility forms (full-width letters, ligatures) folded, case kept.
// It refuses direct room names.
func ParseGroupRoom(s string) (Room, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: room name is not valid UTF-8; use %s", ErrInvalid, Allowed)
	}
	c, err := canonical("room name", norm.NFKC.String(s))
	return Room(c), err
}

// ParseRoom accepts a group room name or a well-formed direct room name
// (as DirectRoom writes it), and returns its canonical form. It parses
// room names read back from etcd.
func ParseRoom(s string) (Room, error) {
	if _, _, ok := pair(s); ok {
		return Room(s), nil
	}
	return ParseGroupRoom(s)
}

// ParseRoomArg parses a room as a user types it, for user me: "@bob" means
// my direct room with bob; anything else is a room name as ParseRoom takes
// it (a group room name, or a direct room name as listed).
func ParseRoomArg(me User, arg string) (Room, error) {
	if len(arg) > 1 && arg[0] == '@' {
		if _, _, ok := pair(arg); !ok {
			peer, err := ParseUser(arg[1:])
			if err != nil {
				return "", err
			}
			return DirectRoom(me, peer)
		}
	}
	return ParseRoom(arg)
}

// DirectRoom returns the name of the direct room between users a and b,
// which must be canonical (it refuses any other) and differ.
func DirectRoom(a, b User) (Room, error) {
	for _, u := range []User{a, b} {
		if c, err := ParseUser(string(u)); err != nil || c != u {
			return "", fmt.Errorf("%w: direct room of %q: not a canonical user name", ErrInvalid, u)
		}
	}
	if a == b {
		return "", fmt.Errorf("%w: a direct room needs two different users", ErrInvalid)
	}
	if a > b {
		a, b = b, a
	}
	return Room(DirectPrefix + a + DirectSep + b), nil
}

// Pair reports the two users of a direct room, in byte order, and whether
// r is a direct room at all.
func (r Room) Pair() (a, b User, ok bool) { return pair(string(r)) }

// IsDirect reports whether r is a direct room.
func (r Room) IsDirect() bool {
	_, _, ok := r.Pair()
	return ok
}

// pair parses a direct room name.
func pair(room string) (a, b User, ok bool) {
	rest, found := strings.CutPrefix(room, DirectPrefix)
	if !found {
		return "", "", false
	}
	sa, sb, found := strings.Cut(rest, DirectSep)
	if !found {
		return "", "", false
	}
	if c, err := ParseUser(sa); err != nil || string(c) != sa || sa >= sb {
		return "", "", false
	}
	if c, err := ParseUser(sb); err != nil || string(c) != sb {
		return "", "", false
	}
	return User(sa), User(sb), true
}

// canonical checks s, valid UTF-8 already, and returns it in NFC.
func canonical(what, s string) (string, error) {
	s = norm.NFC.String(s)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", fmt.Errorf("%w: %s is empty; use %s", ErrInvalid, what, Allowed)
	}
	if n > MaxLen {
		return "", fmt.Errorf("%w: %s %q is %d characters long; use %s", ErrInvalid, what, s, n, Allowed)
	}
	if len(s) > MaxBytes {
		return "", fmt.Errorf("%w: %s %q is %d bytes long in UTF-8, at most %d", ErrInvalid, what, s, len(s), MaxBytes)
	}
	for i, r := range s {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r)
		if i > 0 {
			ok = ok || unicode.IsMark(r) || r == '-' || r == '_' || r == '.'
		}
		if !ok {
			return "", fmt.Errorf("%w: %s %q contains %q; use %s", ErrInvalid, what, s, r, Allowed)
		}
	}
	if err := checkScripts(s); err != nil {
		return "", fmt.Errorf("%w: %s %q %v", ErrInvalid, what, s, err)
	}
	return s, nil
}

// checkScripts refuses a name that mixes writing systems, as "pаypal" with
// a Cyrillic "а" does to pass for another: its letters and digits must
// come from one script, or from one of the combinations that Japanese,
// Chinese and Korean writing use with Latin (Unicode's "highly
// restrictive" level, UTS #39).
func checkScripts(s string) error {
	var used []string
	for _, r := range s {
		sc := scriptOf(r)
		if sc == "" || slices.Contains(used, sc) {
			continue
		}
		used = append(used, sc)
	}
	if len(used) <= 1 {
		return nil
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		if !slices.ContainsFunc(used, func(sc string) bool { return !slices.Contains(allowed, sc) }) {
			return nil
		}
	}
	return fmt.Errorf("mixes the %s scripts; use the letters of one", strings.Join(used, " and "))
}

// scriptOf returns the Unicode script of r, or "" for the characters all
// scripts share (ASCII digits, punctuation, combining marks).
func scriptOf(r rune) string {
	switch {
	case r < 0x80:
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	case unicode.Is(unicode.Common, r), unicode.Is(unicode.Inherited, r):
		return ""
	}
	// The scripts most names are written in first.
	for _, name := range [...]string{"Latin", "Han", "Cyrillic", "Greek", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew", "Devanagari", "Thai"} {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}
