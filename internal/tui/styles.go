package tui

import (
	"hash/fnv"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
)

// senderPalette holds the colours senders are drawn in: mid-tone ANSI 256
// colours that read on dark and light backgrounds alike.
var senderPalette = []string{"33", "166", "35", "170", "37", "136", "69", "167", "71", "134", "30", "172"}

// styles is every style of the interface. With noColor set (NO_COLOR) they
// keep bold, faint and reverse but carry no colour.
type styles struct {
	noColor bool

	title    lipgloss.Style
	subtle   lipgloss.Style
	err      lipgloss.Style
	warn     lipgloss.Style
	notice   lipgloss.Style
	info     lipgloss.Style
	selected lipgloss.Style
	number   lipgloss.Style
	unread   lipgloss.Style
	time     lipgloss.Style
	me       lipgloss.Style
	pending  lipgloss.Style
	rule     lipgloss.Style
	tab      lipgloss.Style
	tabOn    lipgloss.Style
	online   lipgloss.Style
	mention  lipgloss.Style // a mention of me, a room with some
	match    lipgloss.Style // words a search found
	reaction lipgloss.Style
	banner   lipgloss.Style // the rule while selecting, replying, editing

	bar     lipgloss.Style
	barOK   lipgloss.Style
	barWarn lipgloss.Style
	barBad  lipgloss.Style

	senders []lipgloss.Style
	help    help.Styles
	input   textinput.Styles
}

func newStyles(noColor bool) *styles {
	s := lipgloss.NewStyle
	c := func(st lipgloss.Style, fg string) lipgloss.Style {
		if noColor {
			return st
		}
		return st.Foreground(lipgloss.Color(fg))
	}
	bg := func(st lipgloss.Style, fg, b string) lipgloss.Style {
		if noColor {
			return st.Reverse(true)
		}
		return st.Foreground(lipgloss.Color(fg)).Background(lipgloss.Color(b))
	}
	st := &styles{
		noColor:  noColor,
		title:    c(s().Bold(true), "63"),
		subtle:   s().Faint(true),
		err:      c(s().Bold(true), "196"),
		warn:     c(s(), "202"),
		notice:   c(s(), "178"),
		info:     s().Faint(true),
		selected: bg(s().Bold(true), "231", "63"),
		number:   c(s().Bold(true), "63"),
		unread:   c(s().Bold(true), "203"),
		time:     s().Faint(true),
		me:       s().Bold(true),
		pending:  s().Faint(true).Italic(true),
		rule:     s().Faint(true),
		tab:      s().Faint(true),
		tabOn:    bg(s().Bold(true), "231", "63"),
		online:   c(s().Bold(true), "35"),
		mention:  c(s().Bold(true), "213"),
		match:    s().Reverse(true),
		reaction: s().Faint(true),
		banner:   c(s().Bold(true), "63"),
		bar:      bg(s(), "252", "236"),
		barOK:    bg(s(), "120", "236"),
		barWarn:  bg(s().Bold(true), "226", "236"),
		barBad:   bg(s().Bold(true), "231", "160"),
	}
	for _, p := range senderPalette {
		st.senders = append(st.senders, c(s().Bold(true), p))
	}
	if noColor {
		st.bar = s().Reverse(true)
		st.barOK, st.barWarn, st.barBad = st.bar, st.bar.Bold(true), st.bar.Bold(true)
		st.help = help.Styles{
			ShortKey: s().Bold(true), ShortDesc: s(), ShortSeparator: s(),
			FullKey: s().Bold(true), FullDesc: s(), FullSeparator: s(), Ellipsis: s(),
		}
		plain := textinput.StyleState{Text: s(), Placeholder: s().Faint(true), Suggestion: s().Faint(true), Prompt: s().Bold(true)}
		st.input = textinput.Styles{Focused: plain, Blurred: plain, Cursor: textinput.CursorStyle{Color: nil}}
	} else {
		st.help = help.DefaultDarkStyles()
		st.input = textinput.DefaultDarkStyles()
		st.input.Focused.Prompt = c(s().Bold(true), "63")
	}
	// A steady cursor: nothing on screen changes unless something happened.
	st.input.Cursor.Blink = false
	return st
}

// senderIndex picks a sender's colour from a hash of the name, so a name
// has the same colour in every room, run and client.
func senderIndex(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(len(senderPalette)))
}

// sender returns the style of a sender's name.
func (s *styles) sender(name string) lipgloss.Style { return s.senders[senderIndex(name)] }

// newInput returns a text input in the interface's style.
func (s *styles) newInput(prompt string) textinput.Model {
	in := textinput.New()
	in.Prompt = prompt
	in.SetStyles(s.input)
	km := textinput.DefaultKeyMap()
	// Up, Down, Tab, Ctrl+N and Ctrl+P belong to the screens (history,
	// completion, switching rooms), not to the input's own suggestions.
	km.AcceptSuggestion.SetEnabled(false)
	km.NextSuggestion.SetEnabled(false)
	km.PrevSuggestion.SetEnabled(false)
	in.KeyMap = km
	return in
}
