// Package names defines what a Parley user name and room name may be, and
// the canonical form both take before they are compared or stored.
//
// A name is 1 to 32 characters (at most 64 bytes in UTF-8) of Unicode
// letters, digits and marks, plus '-', '_' and '.', starting with a letter
// or digit. User names are folded to
// lower case, so "Bob" and "bob" are the same user and cannot impersonate
// one another; room names keep their case. Both are normalised to Unicode
// NFC, so visually identical spellings are one name.
package names

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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

// User returns the canonical form of a user name, or an error saying what is
// allowed.
func User(s string) (string, error) {
	c, err := canonical("user name", s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(c), nil
}

// Room returns the canonical form of a group room name.
func Room(s string) (string, error) {
	return canonical("room name", s)
}

// Direct returns the name of the direct room between users a and b, which
// must already be canonical user names and differ.
func Direct(a, b string) (string, error) {
	if a == b {
		return "", fmt.Errorf("%w: a direct room needs two different users", ErrInvalid)
	}
	if a > b {
		a, b = b, a
	}
	return DirectPrefix + a + DirectSep + b, nil
}

// DirectPair reports the two users of a direct room name, and whether room
// is a direct room name at all.
func DirectPair(room string) (a, b string, ok bool) {
	rest, found := strings.CutPrefix(room, DirectPrefix)
	if !found {
		return "", "", false
	}
	a, b, found = strings.Cut(rest, DirectSep)
	if !found {
		return "", "", false
	}
	if _, err := User(a); err != nil || a > b || a == b {
		return "", "", false
	}
	if _, err := User(b); err != nil {
		return "", "", false
	}
	return a, b, true
}

// AnyRoom accepts a group room name or a well-formed direct room name, and
// returns its canonical form. Store code uses it before building keys.
func AnyRoom(s string) (string, error) {
	if _, _, ok := DirectPair(s); ok {
		return s, nil
	}
	return Room(s)
}

func canonical(what, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8; use %s", ErrInvalid, what, Allowed)
	}
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
	return s, nil
}
