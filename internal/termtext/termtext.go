// Package termtext neutralises untrusted text before it reaches a
// terminal. It is the one sanitiser of Parley: the command line passes all
// its output through it and the terminal UI every field that came from the
// network.
//
// A terminal acts on some characters instead of drawing them: escape
// sequences can clear the screen, set the window title, move the cursor or
// reprogram keys, and Unicode's bidirectional controls can make text read
// in a different order than it was written. termtext replaces each of them
// with a visible, printable form, so what a user sees is what was sent.
//
// termtext knows nothing of chat, JSON schemas or terminal libraries; it
// deals in strings and bytes only.
package termtext

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Neutralised reports whether Clean replaces r: the C0 controls except
// newline and tab, DEL, the C1 controls (U+0080 to U+009F) and the Unicode
// controls of text direction (U+061C, U+200E, U+200F, U+202A to U+202E,
// U+2066 to U+2069).
func Neutralised(r rune) bool {
	switch {
	case r == '\n', r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Clean returns s with every neutralised character (see [Neutralised])
// shown in a visible form: a C0 control in caret notation (ESC as "^[",
// BEL as "^G"), DEL as "^?", a C1 control or a direction control as its
// code point in angle brackets ("<U+009B>", "<U+202E>"). Newlines and tabs
// stay. Bytes that are not UTF-8 become U+FFFD. Everything else, emoji and
// every script included, is kept as is; Clean(Clean(s)) == Clean(s).
func Clean(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 && r != '\n' && r != '\t':
			b.WriteByte('^')
			b.WriteByte(byte(r) + 0x40)
		case r == 0x7f:
			b.WriteString("^?")
		case Neutralised(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clean reports whether s is valid UTF-8 with nothing to neutralise.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			return false
		} else if c >= utf8.RuneSelf {
			return cleanFrom(s[i:])
		}
	}
	return true
}

func cleanFrom(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || Neutralised(r) {
			return false
		}
		i += n
	}
	return true
}

// Writer passes everything written to it through [Clean] on its way to the
// underlying writer. Each Write is cleaned on its own: a character split
// across two writes shows as U+FFFD, so callers write whole lines (as fmt
// and encoding/json do).
type Writer struct {
	w io.Writer
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write cleans p and writes the result. It reports len(p) on success,
// however long the cleaned text is.
func (w *Writer) Write(p []byte) (int, error) {
	s := Clean(string(p))
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
