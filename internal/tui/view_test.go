package tui

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-chat/parley/internal/chat"
)

func TestWrapCountsCells(t *testing.T) {
	for _, text := range []string{
		"hello world, a line long enough to need wrapping somewhere",
		"日本語のテキストは一文字が二つのセルを占めるので折り返しに注意が必要です",
		"emoji 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 and 👩‍👩‍👧 families",
		"averyveryveryverylongwordwithoutanyspacesthatmustbebrokenanyway",
		"two\nparagraphs",
	} {
		for _, w := range []int{7, 10, 23} {
			lines := wrap(text, w)
			for _, l := range lines {
				if lipgloss.Width(l) > w {
					t.Errorf("wrap(%q, %d): line %q is %d cells", text, w, l, lipgloss.Width(l))
				}
			}
			strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
			if got := strip(strings.Join(lines, "")); got != strip(text) {
				t.Errorf("wrap(%q, %d) lost text: %q", text, w, got)
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"a\x1b[2Jb":           "a^[[2Jb",
		"tab\there":           "tab here",
		"bell\a":              "bell^G",
		"csi\u009b31m":        "csi<U+009B>31m",
		"rtl\u202eevil":       "rtl<U+202E>evil",
		"two\nlines":          "two\nlines",
		"emoji 😀 and 世界 stay": "emoji 😀 and 世界 stay",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSenderColourStable(t *testing.T) {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	seen := make(map[int]bool)
	for _, n := range names {
		i := senderIndex(n)
		if i != senderIndex(n) || i < 0 || i >= len(senderPalette) {
			t.Fatalf("senderIndex(%q) = %d, unstable or out of range", n, i)
		}
		seen[i] = true
	}
	if len(seen) < 5 {
		t.Fatalf("%d names share %d colours", len(names), len(seen))
	}
	// Pinned: a name keeps its colour across versions and clients.
	for name, want := range map[string]int{"alice": 11, "bob": 8, "carol": 2} {
		if got := senderIndex(name); got != want {
			t.Errorf("senderIndex(%q) = %d, want %d", name, got, want)
		}
	}
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]`)

// conversationModel is a model showing a conversation with a long
// message, without a cluster.
func conversationModel(t *testing.T, noColor bool) *model {
	m := bareModel(t, Options{NoColor: noColor})
	c := m.conv
	long := strings.Repeat("a long message with emoji 😀 and 世界 ", 8)
	for i := range 40 {
		c.addMessage(chat.Message{ID: fmt.Sprint(i), Sender: []string{"alice", "bob"}[i%2], Mine: i%2 == 0, Text: long, Time: time.Now(), Revision: int64(i + 1)})
	}
	c.members = []chat.Member{{Name: "alice", Me: true}, {Name: "bob"}}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	return m
}

// After a resize every line fits the new width and the screen has the new
// height exactly, with the status bar last.
func TestResizeRedraws(t *testing.T) {
	m := conversationModel(t, false)
	for _, size := range [][2]int{{100, 30}, {50, 16}, {81, 12}, {20, 8}, {140, 50}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(m.View().Content, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := lipgloss.Width(l); w > size[0] {
				t.Errorf("%dx%d: line %d is %d cells: %q", size[0], size[1], i, w, l)
			}
		}
		if last := lines[len(lines)-1]; !strings.Contains(last, "alice") {
			t.Errorf("%dx%d: last line is not the status bar: %q", size[0], size[1], last)
		}
		if size[0] >= panelMin != strings.Contains(m.View().Content, "Members") {
			t.Errorf("%dx%d: members panel shown = %v", size[0], size[1], !(size[0] >= panelMin))
		}
	}
}

// NO_COLOR: styles keep their weight but carry no colour.
func TestNoColor(t *testing.T) {
	if s := conversationModel(t, false).View().Content; !colourSGR.MatchString(s) {
		t.Fatal("the coloured view has no colour: the test cannot tell")
	}
	s := conversationModel(t, true).View().Content
	if loc := colourSGR.FindStringIndex(s); loc != nil {
		t.Fatalf("NO_COLOR view has a colour at %d: %q", loc[0], s[max(loc[0]-20, 0):loc[1]])
	}
	if !strings.Contains(s, "\x1b[") {
		t.Fatal("NO_COLOR view has no style at all (bold, reverse)")
	}
}

func TestStatusBarCluster(t *testing.T) {
	sh := &shared{st: newStyles(true), opts: Options{Endpoints: []string{"10.0.0.1:2379"}}}
	b := newStatusBar(sh)
	b.SetSize(120, 1)
	ok := chat.EndpointStatus{Endpoint: "http://10.0.0.1:2379", OK: true}
	leader := chat.EndpointStatus{Endpoint: "http://10.0.0.2:2379", OK: true, Leader: true}
	down := chat.EndpointStatus{Endpoint: "http://10.0.0.3:2379", Err: "unavailable"}
	for _, tt := range []struct {
		eps   []chat.EndpointStatus
		watch bool
		state clusterState
		text  string
	}{
		{nil, false, clusterUnknown, "connecting to 10.0.0.1:2379…"},
		{[]chat.EndpointStatus{ok, leader, down}, false, clusterConnected, "connected to 10.0.0.2:2379 (2/3 endpoints)"},
		{[]chat.EndpointStatus{ok, leader, down}, true, clusterReconnecting, "reconnecting… (2/3 endpoints reachable)"},
		{[]chat.EndpointStatus{down}, false, clusterOffline, "offline: 0/1 endpoints reachable"},
		{[]chat.EndpointStatus{down}, true, clusterOffline, "offline: 0/1 endpoints reachable"},
		{[]chat.EndpointStatus{{Endpoint: "https://10.0.0.1:2379", OK: true, NoLeader: true}, down}, false, clusterNoQuorum, "no quorum: read-only, sends queue (1/2 endpoints reachable)"},
	} {
		b.probed = tt.eps != nil
		b.endpoints, b.watchDown = tt.eps, tt.watch
		view := b.View(barInfo{user: "alice", room: "general", members: 3, online: 2, queued: 1})
		if b.state() != tt.state || !strings.Contains(view, tt.text) {
			t.Errorf("endpoints %v, watch down %v: state %d, view %q; want %d, %q", tt.eps, tt.watch, b.state(), view, tt.state, tt.text)
		}
		if !strings.Contains(view, "alice │ general │ 2/3 online │ 1 queued") {
			t.Errorf("view %q lacks who, where and what is queued", view)
		}
		if w := lipgloss.Width(view); w != 120 {
			t.Errorf("status bar is %d cells wide, want 120", w)
		}
	}
}

// Notices, warnings and rejected records show in the transcript, each
// with its reason; text from others cannot restyle the terminal.
func TestTranscriptNoticesAndRejected(t *testing.T) {
	m := bareModel(t, Options{})
	c := m.conv
	now := time.Now()
	for _, ev := range []chat.Event{
		{Kind: chat.EventMessage, Message: chat.Message{ID: "1", Sender: "bob", Text: "hi\x1b[2J there", Time: now, Revision: 10}},
		{Kind: chat.EventMessage, Message: chat.Message{ID: "2", Sender: "mallory", Rejected: "signature of mallory does not verify", Time: now, Revision: 11}},
		{Kind: chat.EventNotice, Notice: chat.Notice{Kind: chat.NoticeLeft, User: "carol"}, Revision: 12},
		{Kind: chat.EventNotice, Notice: chat.Notice{Kind: chat.NoticeRequest, User: "carol"}, Revision: 13},
		{Kind: chat.EventNotice, Notice: chat.Notice{Kind: chat.NoticeRotated, By: "alice", Epoch: 2}, Revision: 14},
		{Kind: chat.EventWarning, Text: "1 message from bob is missing", Revision: 15},
		{Kind: chat.EventMessage, Message: chat.Message{ID: "3", Sender: "alice", Mine: true, Text: "mine", Time: now, Revision: 16}},
	} {
		c.Update(eventMsg{room: "general", ev: ev})
	}
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	s := ansi.Strip(m.View().Content)
	for _, want := range []string{
		"  bob: hi^[[2J there",
		"? mallory: [rejected record: signature of mallory does not verify]",
		"* carol left",
		"* carol wants to join, type !carol to approve (or /deny carol)",
		"* alice rotated the room key to epoch 2",
		"! 1 message from bob is missing",
		"» alice: mine",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(m.View().Content, "\x1b[2J") {
		t.Error("a message's escape sequence reached the terminal")
	}
}

// An error wider than the terminal is wrapped on the room list and the
// waiting screen, never cut at the terminal's edge.
func TestLongErrorsWrap(t *testing.T) {
	const width = 120
	long := errors.New("open etcd client for http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379: etcd cluster unavailable: " +
		strings.Repeat("context deadline exceeded; ", 4) + "the last words")
	m := bareModel(t, Options{})
	r := newRooms(m.sh)
	r.SetSize(width, 30)
	r.setError(long)
	w := newWaiting(m.sh, chat.RoomInfo{Name: "general"}, func() {})
	w.SetSize(width, 30)
	w.err = long
	for name, view := range map[string]string{"room list": r.View(), "waiting": w.View()} {
		s := ansi.Strip(view)
		for _, l := range strings.Split(s, "\n") {
			if lipgloss.Width(l) > width {
				t.Errorf("%s: line of %d cells on a %d-cell terminal: %q", name, lipgloss.Width(l), width, l)
			}
		}
		if got := strings.Join(strings.Fields(s), " "); !strings.Contains(got, long.Error()) {
			t.Errorf("%s does not show the whole error %q:\n%s", name, long, s)
		}
	}
}
