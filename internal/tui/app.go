// Package tui is Parley's full-screen terminal interface: the login, the
// room list, the wait for approval to join a room, conversations and a
// status bar, drawn with Bubble Tea.
//
// It is a thin layer over package chat: every action is one call to a
// chat.Service, made in a Bubble Tea command, whose outcome comes back as a
// message. It knows nothing of etcd (no keys, no client, no watches of its
// own): the cluster appears only as the endpoint health chat reports, and
// the live updates only as chat's room events and presence changes.
package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// Session logs a user in. *cli.App satisfies it.
type Session interface {
	// Login logs in as user with the passphrase of the user's keystore; a
	// new user gets a keystore protected by passphrase (none if empty).
	// The interface always passes a non-nil passphrase, so Login never
	// prompts on the terminal.
	Login(ctx context.Context, user string, passphrase []byte) (*chat.Service, error)
	// KeystoreExists reports whether the user has a keystore here, and
	// whether it is encrypted. It reads local files only.
	KeystoreExists(user string) (exists, encrypted bool)
}

// Options configure Run. The zero value asks for the user name and uses
// colour.
type Options struct {
	// User, if set, is logged in without asking for a name.
	User string
	// Endpoints are the configured etcd endpoints, shown until the first
	// probe of the cluster answers; empty means the local member.
	Endpoints []string
	// NoColor draws without colour (NO_COLOR).
	NoColor bool
	// Timeout is the --timeout of the command line. It bounds the login,
	// the wait for the cluster included (zero: a minute), and each request
	// to the cluster (zero: 15s): a listing of thousands of rooms takes as
	// long as it takes, each of its round trips bounded, not the whole.
	Timeout time.Duration
	// NoBell keeps the terminal bell and desktop notifications quiet when
	// a message calls for the user (--no-bell); the highlight stays.
	NoBell bool
	// Notify is the desktop notification the terminal shows (see
	// DetectNotify); the zero value rings the bell only.
	Notify Notify
	// ShareTyping shows the other members of a room when I am typing
	// there, ShareRead how far I have read (--share-typing,
	// --share-read); both off by default.
	ShareTyping, ShareRead bool
}

// Run shows the interface on the terminal until the user quits or ctx
// ends, and restores the terminal before it returns.
func Run(ctx context.Context, s Session, opts Options) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(ctx, s, opts)
	popts := []tea.ProgramOption{tea.WithContext(ctx)}
	if opts.NoColor {
		popts = append(popts, tea.WithColorProfile(colorprofile.Ascii))
	}
	_, err := tea.NewProgram(m, popts...).Run()
	cancel()
	m.shutdown()
	if errors.Is(err, tea.ErrProgramKilled) && parent.Err() != nil {
		return parent.Err()
	}
	return err
}

// screen is what the interface shows.
type screen int

const (
	screenLogin screen = iota
	screenRooms
	screenWaiting
	screenConversation
)

// shared is what every screen reads: the logged-in service, the key map
// and styles, and what is known of rooms, presence and outgoing messages.
// Only Update changes it.
type shared struct {
	// ctx is the program's lifetime. The model lives exactly as long as
	// the program, so it keeps the context every command derives its own
	// from; cancelling it (on quit) ends subscriptions and sends.
	ctx     context.Context
	sess    Session
	opts    Options
	keys    KeyMap
	st      *styles
	timeout time.Duration // bounds each request to the cluster; immutable

	svc *chat.Service // nil until logged in
	me  string

	rooms    []chat.RoomInfo // as last listed, in list order
	activity map[string]*activity
	online   map[string]bool

	muted map[string]bool // rooms that ring no bell (/mute)

	outgoing  map[string][]*outgoing // by room, in typing order
	inflight  map[string]int         // room -> local id of the message being sent
	nextLocal int
	history   []string // lines typed, oldest first, for Up and Down
}

// activity is what the interface knows of a room's messages.
type activity struct {
	last       chat.Message // newest message seen
	unread     int          // messages from others not shown yet
	mentions   int          // of those, the ones for me: mentions, direct messages
	unreadMore bool         // and perhaps more than unread (counted at start only)
	summarized bool         // last was read from the cluster once
	marked     int64        // the read mark saved last
}

func (sh *shared) act(room string) *activity {
	a := sh.activity[room]
	if a == nil {
		a = &activity{}
		sh.activity[room] = a
	}
	return a
}

// model is the root model: it owns the screens, the room subscriptions,
// presence, the cluster probe and the outgoing messages.
type model struct {
	sh     *shared
	screen screen
	width  int
	height int

	login   *loginModel
	rooms   *roomsModel
	waiting *waitingModel
	conv    *conversation
	bar     *statusBar

	feeds      map[string]*feed
	feedGen    int
	listing    bool // a listing of the rooms is under way
	markFailed bool // a read mark could not be saved (said once)
	relist     bool // list the rooms again when it returns

	stopPresence func()
	outboxDone   chan struct{}

	quitArmed bool
}

func newModel(ctx context.Context, s Session, opts Options) *model {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	sh := &shared{
		ctx: ctx, sess: s, opts: opts, keys: DefaultKeyMap(), st: newStyles(opts.NoColor), timeout: timeout,
		activity: make(map[string]*activity), online: make(map[string]bool), muted: make(map[string]bool),
		outgoing: make(map[string][]*outgoing), inflight: make(map[string]int),
	}
	return &model{
		sh:     sh,
		screen: screenLogin,
		login:  newLogin(sh),
		rooms:  newRooms(sh),
		bar:    newStatusBar(sh),
		feeds:  make(map[string]*feed),
	}
}

func (m *model) Init() tea.Cmd { return m.login.Init() }

// shutdown stops presence (marking the user offline at once) and waits
// for the outbox to stop; Run calls it after the program ends.
func (m *model) shutdown() {
	if m.stopPresence != nil {
		m.stopPresence()
	}
	if m.outboxDone != nil {
		select {
		case <-m.outboxDone:
		case <-time.After(3 * time.Second):
		}
	}
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if m.conv != nil {
		m.conv.layout()
	}
	return m, cmd
}

func (m *model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		return nil
	case tea.KeyPressMsg:
		if key.Matches(msg, m.sh.keys.Quit) {
			return m.quit()
		}
		if m.quitArmed {
			m.quitArmed, m.bar.alert = false, ""
		}
	case tea.InterruptMsg:
		return tea.Quit
	case quitMsg:
		return m.quit()

	case loginMsg:
		if !m.login.awaits(msg) {
			// A login the user went back from: whatever its outcome, it
			// no longer counts.
			return nil
		}
		if msg.err != nil || msg.svc == nil {
			return m.login.Update(msg)
		}
		m.login.done()
		return m.loggedIn(msg.svc)

	case presenceOnMsg:
		if msg.err != nil {
			return m.showError(fmt.Errorf("cannot show you online: %w", msg.err))
		}
		m.stopPresence = msg.stop
		return nil
	case readMarkMsg:
		// Said once: a home that cannot save one cannot save the next.
		if !m.markFailed {
			m.markFailed = true
			return m.showError(msg.err)
		}
		return nil
	case presenceMsg:
		return m.onPresence(msg)

	case clusterMsg:
		m.bar.setCluster(msg.status)
		return clusterTick()
	case clusterTickMsg:
		return clusterCmd(m.sh.ctx, m.sh.svc)

	case roomsProgressMsg:
		m.rooms.progress = msg.read
		return nextListingCmd(msg.ch)
	case roomsMsg:
		return m.onRooms(msg)
	case summariesMsg:
		return m.onSummaries(msg)
	case roomsSignalMsg:
		if msg.closed {
			if m.sh.ctx.Err() != nil {
				return nil
			}
			return roomsWatchRetry()
		}
		// A room appeared (or a compaction may have hidden one): list
		// again, for the room list and the conversation's tabs alike.
		return tea.Batch(m.listRooms(), nextRoomsSignalCmd(msg.ch))
	case roomsWatchRetryMsg:
		return watchRoomsCmd(m.sh.ctx, m.sh.svc)

	case openMsg:
		if msg.err != nil {
			return m.showError(msg.err)
		}
		return m.open(msg.room)
	case showRoomsMsg:
		return m.showRooms("")

	case feedMsg:
		return m.onFeed(msg)
	case eventMsg:
		return m.onEvent(msg)
	case feedClosedMsg:
		if f := m.feeds[msg.room]; f != nil && f.ch == msg.ch {
			f.ch = nil
			return feedRetryCmd(msg.room)
		}
		return nil
	case feedRetryMsg:
		if f := m.feeds[msg.room]; f != nil && f.ch == nil {
			m.stopFeed(msg.room)
			return m.ensureFeed(msg.room, f.last)
		}
		return nil

	case sentMsg:
		return m.onSent(msg)
	case deliveredMsg:
		if msg.closed {
			return nil
		}
		m.delivered(msg.msg)
		return nextDeliveredCmd(msg.ch)
	case queuedMsg:
		return m.onQueued(msg)

	case approvalMsg, cancelJoinMsg:
		return m.onWaitingDone(msg)
	case roomMsg:
		if m.waiting != nil && msg.err == nil && msg.room.Name == m.waiting.room.Name {
			m.waiting.setRoom(msg.room)
		}
		return nil

	case mutesMsg:
		return m.onMutes(msg)

	case signalsMsg:
		if m.conv != nil && msg.room == m.conv.room.Name {
			return m.conv.Update(msg)
		}
		return nil

	case historyMsg, olderMsg, membersMsg, resultMsg, actedMsg, searchMsg, topicMsg, verifyMsg:
		if m.conv != nil && roomOf(msg) == m.conv.room.Name {
			cmd := m.conv.Update(msg)
			if h, ok := msg.(historyMsg); ok && h.err == nil {
				var newest int64
				for _, msg := range h.scr.Page.Messages {
					newest = max(newest, msg.Revision)
				}
				a := m.sh.act(h.room)
				if last := h.scr.Summary.Last; last.Revision > a.last.Revision {
					a.last = last
				}
				a.summarized = true
				cmd = tea.Batch(cmd, m.markRead(h.room, newest), m.shareRead(h.room, newest))
			}
			return cmd
		}
		return nil
	case leftMsg:
		if msg.err != nil {
			return m.showError(msg.err)
		}
		m.stopFeed(msg.room)
		return m.showRooms(fmt.Sprintf("You left %s.", displayRoom(m.sh.me, msg.room)))

	case tea.MouseWheelMsg:
		if m.screen == screenConversation {
			return m.conv.Update(msg)
		}
		return nil
	}

	switch m.screen {
	case screenLogin:
		return m.login.Update(msg)
	case screenRooms:
		return m.rooms.Update(msg)
	case screenWaiting:
		return m.waiting.Update(msg)
	case screenConversation:
		return m.conv.Update(msg)
	}
	return nil
}

func roomOf(msg tea.Msg) string {
	switch msg := msg.(type) {
	case historyMsg:
		return msg.room
	case olderMsg:
		return msg.room
	case membersMsg:
		return msg.room
	case resultMsg:
		return msg.room
	case actedMsg:
		return msg.room
	case searchMsg:
		return msg.room
	case verifyMsg:
		return msg.room
	case topicMsg:
		return msg.room
	}
	return ""
}

// quit ends the program, after a warning if a message is still on its way
// to the cluster (queued messages are safe in the outbox).
func (m *model) quit() tea.Cmd {
	sending := 0
	for _, outs := range m.sh.outgoing {
		for _, o := range outs {
			if o.state == sendSending || o.state == sendWaiting {
				sending++
			}
		}
	}
	if sending > 0 && !m.quitArmed {
		m.quitArmed = true
		m.bar.alert = fmt.Sprintf("%s still being sent: press ctrl+c again to quit anyway", plural(sending, "message is", "messages are"))
		return nil
	}
	return tea.Quit
}

func (m *model) resize() {
	body := max(m.height-1, 1) // the status bar takes the last line
	m.login.SetSize(m.width, m.height)
	m.rooms.SetSize(m.width, body)
	m.bar.SetSize(m.width, 1)
	if m.waiting != nil {
		m.waiting.SetSize(m.width, body)
	}
	if m.conv != nil {
		m.conv.SetSize(m.width, body)
	}
}

// loggedIn starts what runs for the whole session and shows the rooms.
// recoveryCoder is a Session that registered a new user and holds their
// recovery code, to be shown once.
type recoveryCoder interface{ TakeRecoveryCode() string }

func (m *model) loggedIn(svc *chat.Service) tea.Cmd {
	sh := m.sh
	sh.svc, sh.me = svc, svc.Me()
	info := ""
	if rc, ok := sh.sess.(recoveryCoder); ok {
		if code := rc.TakeRecoveryCode(); code != "" {
			info = "Your recovery code, shown only now: " + code + " (write it down and keep it away from this machine: if you lose every device, parley device recover gives you a new one)"
		}
	}
	return tea.Batch(
		// The login may have printed about delivered queued messages:
		// draw the whole screen again.
		tea.ClearScreen,
		goOnlineCmd(sh.ctx, svc),
		followPresenceCmd(sh.ctx, svc),
		clusterCmd(sh.ctx, svc),
		queuedCmd(svc), // then the outbox starts: see onQueued
		watchRoomsCmd(sh.ctx, svc),
		loadMutesCmd(sh.sess, sh.me),
		m.showRooms(info),
	)
}

// Rooms.

// showRooms switches to the room list and lists the rooms now; the rooms
// watch lists them again whenever a room appears.
func (m *model) showRooms(info string) tea.Cmd {
	m.leaveWaiting()
	closing := m.closeConversation()
	m.screen = screenRooms
	m.rooms.info, m.rooms.err, m.rooms.busy = info, "", false
	return tea.Batch(closing, m.listRooms())
}

// closeConversation ends the conversation shown, if any.
func (m *model) closeConversation() tea.Cmd {
	if m.conv == nil {
		return nil
	}
	cmd := m.conv.close()
	m.conv = nil
	return cmd
}

// listRooms lists the rooms, or, while a listing is under way, once more
// when it returns.
func (m *model) listRooms() tea.Cmd {
	if m.listing {
		m.relist = true
		return nil
	}
	m.listing = true
	known := make(map[string]bool)
	for r, a := range m.sh.activity {
		if a.summarized {
			known[r] = true
		}
	}
	ch := make(chan tea.Msg, listingBuffer)
	return tea.Batch(roomsCmd(m.sh.ctx, m.sh.timeout, m.sh.svc, known, ch), nextListingCmd(ch))
}

func (m *model) onRooms(msg roomsMsg) tea.Cmd {
	cmds := []tea.Cmd{nextListingCmd(msg.ch)} // the summaries follow
	m.listing = false
	if m.relist {
		m.relist = false
		cmds = append(cmds, m.listRooms())
	}
	if msg.err != nil {
		m.rooms.setListError(msg.err)
		return tea.Batch(cmds...)
	}
	m.sh.rooms = orderRooms(m.sh.me, msg.rooms)
	m.rooms.setRooms(m.sh.rooms, msg.rejected)
	member := make(map[string]bool)
	for _, r := range m.sh.rooms {
		if r.Member {
			member[r.Name] = true
			cmds = append(cmds, m.ensureFeed(r.Name, 0))
		}
	}
	for name := range m.feeds {
		if !member[name] && (m.waiting == nil || m.waiting.room.Name != name) && (m.conv == nil || m.conv.room.Name != name) {
			m.stopFeed(name)
		}
	}
	return tea.Batch(cmds...)
}

// onSummaries shows the newest message of rooms and their unread counts
// since the read mark of an earlier session; counted live from here on.
func (m *model) onSummaries(msg summariesMsg) tea.Cmd {
	if msg.err != nil {
		what := "the newest message of 1 room"
		if msg.failed > 1 {
			what = fmt.Sprintf("the newest messages of %d rooms", msg.failed)
		}
		m.rooms.setError(fmt.Errorf("cannot read %s: %w", what, msg.err))
	}
	for name, s := range msg.summaries {
		a := m.sh.act(name)
		if !a.summarized && (m.conv == nil || m.conv.room.Name != name) {
			a.unread, a.unreadMore, a.mentions = s.Unread, s.UnreadMore, s.Mentions
			if names.Room(name).IsDirect() {
				a.mentions = s.Unread
			}
		}
		a.summarized = true
		if s.Last.Revision > a.last.Revision {
			a.last = s.Last
		}
	}
	return nextListingCmd(msg.ch)
}

// readMarkMsg reports a read mark that could not be saved: the next
// session counts as unread what this one showed.
type readMarkMsg struct{ err error }

// markRead saves, in the background, that the messages of room up to
// revision rev have been shown, so the next session counts unread ones
// from there.
func (m *model) markRead(room string, rev int64) tea.Cmd {
	a := m.sh.act(room)
	if rev <= a.marked {
		return nil
	}
	a.marked = rev
	svc := m.sh.svc
	return func() tea.Msg {
		if err := svc.MarkRead(names.Room(room), rev); err != nil {
			return readMarkMsg{err: err}
		}
		return nil
	}
}

// open shows a room: its conversation if I am a member, the waiting screen
// if my request to join it is pending.
func (m *model) open(r chat.RoomInfo) tea.Cmd {
	switch {
	case r.Member:
		return m.openConversation(r)
	case r.Requested:
		return m.openWaiting(r)
	}
	return m.showError(fmt.Errorf("you are not a member of %s", r.Name))
}

func (m *model) openConversation(r chat.RoomInfo) tea.Cmd {
	m.leaveWaiting()
	closing := m.closeConversation()
	m.screen = screenConversation
	m.conv = newConversation(m.sh, r)
	m.conv.SetSize(m.width, max(m.height-1, 1))
	a := m.sh.act(r.Name)
	a.unread, a.unreadMore, a.mentions = 0, false, 0
	m.bar.alert = ""
	cmds := []tea.Cmd{closing, historyCmd(m.sh.ctx, m.sh.timeout, m.sh.svc, r.Name), m.ensureFeed(r.Name, 0), m.conv.Focus(), m.conv.startSignals()}
	if !m.isMember(r.Name) {
		// A room just created, joined or opened: list again for the tabs.
		cmds = append(cmds, m.listRooms())
	}
	return tea.Batch(cmds...)
}

func (m *model) openWaiting(r chat.RoomInfo) tea.Cmd {
	m.leaveWaiting()
	closing := m.closeConversation()
	m.screen = screenWaiting
	ctx, cancel := context.WithCancel(m.sh.ctx)
	m.waiting = newWaiting(m.sh, r, cancel)
	m.waiting.SetSize(m.width, max(m.height-1, 1))
	return tea.Batch(
		closing,
		waitApprovalCmd(ctx, m.sh.svc, r.Name),
		// Subscribed as a non-member, the room's notices still tell
		// when its members change.
		m.ensureFeed(r.Name, 0),
	)
}

// leaveWaiting stops waiting for approval, if the waiting screen shows.
func (m *model) leaveWaiting() {
	if m.waiting == nil {
		return
	}
	m.waiting.cancel()
	if !m.isMember(m.waiting.room.Name) {
		m.stopFeed(m.waiting.room.Name)
	}
	m.waiting = nil
}

func (m *model) onWaitingDone(msg tea.Msg) tea.Cmd {
	w := m.waiting
	switch msg := msg.(type) {
	case approvalMsg:
		if w == nil || msg.room != w.room.Name {
			return nil
		}
		if errors.Is(msg.err, chat.ErrDenied) {
			return m.outOfRoom(msg.room, fmt.Sprintf("%s denied your request to join %s.", msg.approval.By, msg.room))
		}
		if msg.err == nil {
			r := w.room
			r.Member, r.Requested = true, false
			w.cancel()
			m.waiting = nil // keep the feed: it is the conversation's now
			cmd := m.openConversation(r)
			m.conv.early = w.events
			return cmd
		}
		return w.Update(msg)
	case cancelJoinMsg:
		if msg.err != nil {
			if w != nil && w.room.Name == msg.room {
				return w.Update(msg)
			}
			return m.showError(msg.err)
		}
		return m.showRooms(fmt.Sprintf("Your request to join %s is withdrawn.", msg.room))
	}
	return nil
}

// showError reports a failed action on the screen that asked for it.
func (m *model) showError(err error) tea.Cmd {
	switch m.screen {
	case screenConversation:
		m.conv.addError(err)
	case screenWaiting:
		m.waiting.err = err
	default:
		m.rooms.setError(err)
	}
	return nil
}

// View.

func (m *model) View() tea.View {
	var body string
	switch m.screen {
	case screenLogin:
		body = m.login.View()
	case screenRooms:
		body = m.rooms.View()
	case screenWaiting:
		body = m.waiting.View()
	case screenConversation:
		body = m.conv.View()
	}
	if m.screen != screenLogin {
		body = lipgloss.JoinVertical(lipgloss.Left, body, m.bar.View(m.barInfo()))
	}
	v := tea.NewView(body)
	v.AltScreen = true
	v.WindowTitle = "Parley"
	if m.screen == screenConversation {
		v.MouseMode = tea.MouseModeCellMotion
		v.WindowTitle = "Parley: " + displayRoom(m.sh.me, m.conv.room.Name)
	}
	return v
}

func (m *model) barInfo() barInfo {
	info := barInfo{user: m.sh.me}
	for _, outs := range m.sh.outgoing {
		for _, o := range outs {
			switch o.state {
			case sendQueued:
				info.queued++
			case sendWaiting, sendSending:
				info.sending++
			}
		}
	}
	for name, a := range m.sh.activity {
		if a.unread > 0 && (m.conv == nil || m.conv.room.Name != name) {
			info.unread += a.unread
		}
	}
	switch {
	case m.conv != nil:
		info.room = displayRoom(m.sh.me, m.conv.room.Name)
		info.members = len(m.conv.members)
		for _, mem := range m.conv.members {
			if m.sh.online[mem.Name] {
				info.online++
			}
		}
	case m.waiting != nil:
		info.room = displayRoom(m.sh.me, m.waiting.room.Name) + " (waiting)"
	}
	return info
}
