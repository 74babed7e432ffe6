package tui

import (
	"slices"
	"strings"

	"github.com/parley-chat/parley/internal/chat"
)

// completion is a Tab completion in progress: repeated Tabs cycle through
// the matches of the word that was completed.
type completion struct {
	before  string // the line before the word
	after   string // the line after the cursor
	matches []string
	i       int
	applied string // the line as the last Tab left it
}

// complete completes the word before the cursor: commands at the start of
// the line, !name from the join requests, and user or room names where a
// command or a message wants them.
func (c *conversation) complete() {
	if c.comp != nil && c.input.Value() == c.comp.applied {
		c.comp.i = (c.comp.i + 1) % len(c.comp.matches)
		c.applyCompletion()
		return
	}
	c.comp = nil
	line := []rune(c.input.Value())
	pos := min(c.input.Position(), len(line))
	start := pos
	for start > 0 && line[start-1] != ' ' {
		start--
	}
	word := string(line[start:pos])
	fields := strings.Fields(string(line[:start]))
	prev := ""
	if len(fields) > 0 {
		prev = fields[len(fields)-1]
	}
	matches := matchPrefix(c.candidates(len(fields) == 0, prev, word), word)
	if len(matches) == 0 {
		return
	}
	c.comp = &completion{before: string(line[:start]), after: string(line[pos:]), matches: matches}
	c.applyCompletion()
}

func (c *conversation) applyCompletion() {
	cc := c.comp
	m := cc.matches[cc.i]
	if len(cc.matches) == 1 && !strings.HasPrefix(cc.after, " ") {
		m += " "
	}
	c.input.SetValue(cc.before + m + cc.after)
	c.input.SetCursor(len([]rune(cc.before + m)))
	cc.applied = c.input.Value()
}

// candidates lists what the word may become, given where it stands.
func (c *conversation) candidates(first bool, prev, word string) []string {
	switch {
	case first && strings.HasPrefix(word, "/"):
		out := make([]string, 0, len(commandSpecs))
		for _, s := range commandSpecs {
			out = append(out, "/"+s.name)
		}
		return out
	case first && strings.HasPrefix(word, "!"):
		return prefixAll("!", c.requests)
	}
	switch prev {
	case "/approve", "/deny":
		return c.requests
	case "/remove":
		var out []string
		for _, m := range c.members {
			if !m.Me {
				out = append(out, m.Name)
			}
		}
		return out
	case "/join":
		var out []string
		for _, r := range c.sh.rooms {
			if r.Kind != chat.Direct && !r.Member {
				out = append(out, r.Name)
			}
		}
		return out
	case "/dm", "/verify":
		return c.knownUsers(false)
	}
	if strings.HasPrefix(word, "@") {
		return prefixAll("@", c.knownUsers(false))
	}
	return c.knownUsers(true)
}

// knownUsers lists the users this conversation knows of: members, those
// asking to join, senders, and whoever is online.
func (c *conversation) knownUsers(withMe bool) []string {
	seen := make(map[string]bool)
	for _, m := range c.members {
		seen[m.Name] = true
	}
	for _, r := range c.requests {
		seen[r] = true
	}
	for _, e := range c.entries {
		if e.kind == entryMessage && e.msg.Sender != "" {
			seen[e.msg.Sender] = true
		}
	}
	for u := range c.sh.online {
		seen[u] = true
	}
	if !withMe {
		delete(seen, c.sh.me)
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// matchPrefix returns the candidates that start with word (ignoring case),
// sorted and without repeats.
func matchPrefix(cands []string, word string) []string {
	lw := strings.ToLower(word)
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(strings.ToLower(c), lw) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
