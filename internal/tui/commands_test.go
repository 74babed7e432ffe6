package tui

import (
	"context"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/parley-chat/parley/internal/chat"
)

func TestParseLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want typedLine
		err  string
	}{
		{"", typedLine{kind: lineEmpty}, ""},
		{"   ", typedLine{kind: lineEmpty}, ""},
		{"hello", typedLine{kind: lineMessage, text: "hello"}, ""},
		{"  indented text", typedLine{kind: lineMessage, text: "  indented text"}, ""},
		{"!bob", typedLine{kind: lineCommand, cmd: "approve", arg: "bob"}, ""},
		{" !bob ", typedLine{kind: lineCommand, cmd: "approve", arg: "bob"}, ""},
		{"!bob is late", typedLine{kind: lineMessage, text: "!bob is late"}, ""},
		{"!", typedLine{kind: lineMessage, text: "!"}, ""},
		{"/approve bob", typedLine{kind: lineCommand, cmd: "approve", arg: "bob"}, ""},
		{"/APPROVE @bob", typedLine{kind: lineCommand, cmd: "approve", arg: "bob"}, ""},
		{"/join General", typedLine{kind: lineCommand, cmd: "join", arg: "General"}, ""},
		{"/dm @carol", typedLine{kind: lineCommand, cmd: "dm", arg: "carol"}, ""},
		{"/leave", typedLine{kind: lineCommand, cmd: "leave"}, ""},
		{"/members", typedLine{kind: lineCommand, cmd: "members"}, ""},
		{"/quit", typedLine{kind: lineCommand, cmd: "quit"}, ""},
		{"//not a command", typedLine{kind: lineMessage, text: "/not a command"}, ""},
		{"/", typedLine{kind: lineInvalid}, "type a command"},
		{"/nope", typedLine{kind: lineInvalid}, "unknown command /nope"},
		{"/approve", typedLine{kind: lineInvalid}, "usage: /approve USER"},
		{"/approve a b", typedLine{kind: lineInvalid}, "usage: /approve USER"},
		{"/leave now later", typedLine{kind: lineInvalid}, "usage: /leave [--delete]"},
		{"/leave --delete", typedLine{kind: lineCommand, cmd: "leave", arg: "--delete"}, ""},
		{"/members now", typedLine{kind: lineInvalid}, "usage: /members (no argument)"},
	} {
		got := parseLine(tt.in)
		gotErr := ""
		if got.err != nil {
			gotErr = got.err.Error()
		}
		got.err = nil
		if got != tt.want || !strings.Contains(gotErr, tt.err) || (tt.err == "") != (gotErr == "") {
			t.Errorf("parseLine(%q) = %+v, %q; want %+v, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}

// Every command is documented by /help.
func TestHelpListsEveryCommand(t *testing.T) {
	help := strings.Join(helpLines(DefaultKeyMap()), "\n")
	for _, c := range commandSpecs {
		if !strings.Contains(help, "/"+c.name) {
			t.Errorf("/help does not mention /%s", c.name)
		}
	}
}

// bareConversation is a conversation with no cluster behind it, for
// tests of its input line alone.
func bareConversation(t *testing.T) *conversation { return bareModel(t, Options{}).conv }

// bareModel is a model showing a conversation, with no cluster behind it.
func bareModel(t *testing.T, opts Options) *model {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := newModel(ctx, nil, opts)
	m.sh.me = "alice"
	c := newConversation(m.sh, chat.RoomInfo{Name: "general", Member: true})
	c.Focus()
	c.loaded = true
	m.conv, m.screen = c, screenConversation
	m.sh.rooms = []chat.RoomInfo{{Name: "general", Member: true}}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	return m
}

func keys(c *conversation, s string) {
	for _, r := range s {
		c.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func TestCompletion(t *testing.T) {
	c := bareConversation(t)
	c.members = []chat.Member{{Name: "alice", Me: true}, {Name: "bob"}, {Name: "bella"}}
	c.requests = []string{"carol", "cedric"}
	tab := func() { c.Update(tea.KeyPressMsg{Code: tea.KeyTab}) }
	for _, tt := range []struct {
		typed string
		tabs  int
		want  string
	}{
		{"/app", 1, "/approve "},
		{"/", 1, "/approve"}, // the first of several, in order
		{"/", 2, "/create"},
		{"!c", 1, "!carol"},
		{"!c", 2, "!cedric"},
		{"!c", 3, "!carol"}, // round again
		{"/deny ce", 1, "/deny cedric "},
		{"/remove b", 1, "/remove bella"},
		{"/remove a", 1, "/remove a"}, // not myself
		{"b", 1, "bella"},
		{"b", 2, "bob"},
		{"hi @bo", 1, "hi @bob "},
		{"hi zz", 1, "hi zz"},
	} {
		c.input.Reset()
		c.comp = nil
		keys(c, tt.typed)
		for range tt.tabs {
			tab()
		}
		if got := c.input.Value(); got != tt.want {
			t.Errorf("%q + %d×tab = %q, want %q", tt.typed, tt.tabs, got, tt.want)
		}
	}
}

func TestInputHistory(t *testing.T) {
	c := bareConversation(t)
	up := func() { c.Update(tea.KeyPressMsg{Code: tea.KeyUp}) }
	down := func() { c.Update(tea.KeyPressMsg{Code: tea.KeyDown}) }
	for _, l := range []string{"/help", "/members"} {
		keys(c, l)
		c.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	}
	keys(c, "draft")
	for _, tt := range []struct {
		move func()
		want string
	}{
		{up, "/members"}, {up, "/help"}, {up, "/help"}, {down, "/members"}, {down, "draft"}, {down, "draft"},
	} {
		tt.move()
		if got := c.input.Value(); got != tt.want {
			t.Fatalf("history: got %q, want %q", got, tt.want)
		}
	}
}

// A message typed shows at once as being sent, in typing order.
func TestTypedMessageShowsPending(t *testing.T) {
	c := bareConversation(t)
	for _, l := range []string{"one", "two"} {
		keys(c, l)
		c.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	}
	c.layout()
	s := strings.Join(c.lines, "\n")
	i, j := strings.Index(s, "one  (sending…)"), strings.Index(s, "two  (sending…)")
	if i < 0 || j < i {
		t.Fatalf("pending messages not shown in order:\n%s", s)
	}
	outs := c.sh.outgoing["general"]
	if len(outs) != 2 || outs[0].state != sendSending || outs[1].state != sendWaiting {
		t.Fatalf("outgoing = %+v; want one sending, one waiting behind it", outs)
	}
}
