package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/termtext"
)

// plural says "1 room" or "3 rooms".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ellipsis shortens s to at most n cells.
func ellipsis(s string, n int) string { return ansi.Truncate(s, n, "…") }

// sanitize makes text from other users safe to draw, with the sanitiser
// the command line uses (package termtext): control characters (escape
// sequences could restyle or redraw the terminal) and the Unicode controls
// that reorder text are shown visibly, as "^[" or "<U+202E>". Newlines
// stay: they separate paragraphs; tabs become spaces, which wrap measures.
func sanitize(s string) string {
	return strings.ReplaceAll(termtext.Clean(s), "\t", " ")
}

// wrap breaks text into lines of at most width cells, at spaces where it
// can and inside words where it must. It counts cells, not bytes or runes,
// so wide characters and emoji are measured as the terminal draws them.
func wrap(text string, width int) []string {
	width = max(width, 1)
	var out []string
	for _, para := range strings.Split(text, "\n") {
		if para == "" {
			out = append(out, "")
			continue
		}
		out = append(out, strings.Split(lipgloss.Wrap(para, width, ""), "\n")...)
	}
	return out
}

// frame fits lines into a w×h box: longer lines are cut, missing lines
// are blank.
func frame(lines []string, w, h int) string {
	if h <= 0 {
		return ""
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	out := make([]string, h)
	for i := range out {
		if i < len(lines) && lipgloss.Width(lines[i]) > w {
			out[i] = ansi.Truncate(lines[i], w, "")
		} else if i < len(lines) {
			out[i] = lines[i]
		}
	}
	return strings.Join(out, "\n")
}

// displayRoom names a room for people: "@bob" for my direct room with
// bob, the name for group rooms.
func displayRoom(me, room string) string {
	if a, b, ok := names.Room(room).Pair(); ok {
		if a.String() == me {
			return "@" + b.String()
		}
		if b.String() == me {
			return "@" + a.String()
		}
		return string(a + "+" + b)
	}
	return room
}

// when formats a message time relative to now: the time today, the weekday
// this week, the date before.
func when(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now = t.Local(), now.Local()
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return t.Format("15:04")
	case now.Sub(t) < 6*24*time.Hour && t.Before(now):
		return t.Format("Mon 15:04")
	case y1 == y2:
		return t.Format("2 Jan")
	}
	return t.Format("2 Jan 2006")
}
