package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// waitLimit bounds every wait of the tests for something to show.
const waitLimit = 15 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openStore connects to endpoints for the length of the test.
func openStore(t *testing.T, eps []string) *store.Client {
	t.Helper()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fakeSession stands in for *cli.App: keystores kept in memory, logins
// made with chat.Login on a real store.
type fakeSession struct {
	st     *store.Client
	outbox func() chat.Outbox // nil: no outbox
	marks  chat.ReadMarks     // nil: none

	mu   sync.Mutex
	keys map[string]*fakeKeystore
}

type fakeKeystore struct {
	id   *crypto.Identity
	pass string
}

func newSession(st *store.Client) *fakeSession {
	return &fakeSession{st: st, keys: make(map[string]*fakeKeystore)}
}

// addKeystore gives user a keystore protected by pass.
func (s *fakeSession) addKeystore(t *testing.T, user, pass string) *crypto.Identity {
	id, err := crypto.NewIdentity(user)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.keys[user] = &fakeKeystore{id: id, pass: pass}
	s.mu.Unlock()
	return id
}

func (s *fakeSession) KeystoreExists(user string) (exists, encrypted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[user]
	return k != nil, k != nil && k.pass != ""
}

func (s *fakeSession) Login(ctx context.Context, user string, pass []byte) (*chat.Service, error) {
	if pass == nil {
		return nil, fmt.Errorf("the interface must pass a passphrase: a nil one would prompt on the terminal")
	}
	s.mu.Lock()
	k := s.keys[user]
	if k == nil {
		id, err := crypto.NewIdentity(user)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		k = &fakeKeystore{id: id, pass: string(pass)}
		s.keys[user] = k
	}
	s.mu.Unlock()
	if k.pass != "" && k.pass != string(pass) {
		return nil, fmt.Errorf("keystore of %s: %w", user, crypto.ErrWrongPassphrase)
	}
	opts := chat.Options{ReadMarks: s.marks}
	if s.outbox != nil {
		opts.Outbox = s.outbox()
	}
	return chat.Login(ctx, s.st, k.id, opts)
}

// login logs a user in directly, as another client would.
func login(t *testing.T, st *store.Client, name string) *chat.Service {
	t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := chat.Login(testCtx(t), st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// driver runs a model as Bubble Tea does: commands run in goroutines and
// their messages come back to Update, one at a time, on the test's
// goroutine.
type driver struct {
	t      *testing.T
	m      *model
	msgs   chan tea.Msg
	done   chan struct{}
	quit   bool
	raw    []string // sequences written raw (tea.Raw): the bell, notifications
	cancel context.CancelFunc
}

func newDriver(t *testing.T, s Session, opts Options) *driver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &driver{t: t, m: newModel(ctx, s, opts), msgs: make(chan tea.Msg, 64), done: make(chan struct{}), cancel: cancel}
	t.Cleanup(func() {
		cancel()
		close(d.done)
		d.m.shutdown()
	})
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	d.exec(d.m.Init())
	return d
}

func (d *driver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if msg == nil {
			return
		}
		select {
		case d.msgs <- msg:
		case <-d.done:
		}
	}()
}

func (d *driver) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
		return
	case tea.QuitMsg:
		d.quit = true
		return
	case tea.RawMsg:
		// What the program would write to the terminal as it is.
		d.raw = append(d.raw, fmt.Sprint(msg.Msg))
		return
	}
	_, cmd := d.m.Update(msg)
	d.exec(cmd)
}

// screen is what the terminal would show, without styles.
func (d *driver) screen() string { return ansi.Strip(d.m.View().Content) }

// waitFor processes messages until cond holds.
func (d *driver) waitFor(what string, cond func() bool) {
	d.t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for !cond() {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-timer.C:
			d.t.Fatalf("gave up waiting for %s; the screen shows:\n%s", what, d.screen())
		}
	}
}

// waitText waits until the screen shows every one of texts.
func (d *driver) waitText(texts ...string) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf("%q on screen", texts), func() bool {
		s := d.screen()
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}

// settle processes the messages that arrive within a short while.
func (d *driver) settle(dur time.Duration) {
	timer := time.NewTimer(dur)
	defer timer.Stop()
	for {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-timer.C:
			return
		}
	}
}

// typeText types s key by key.
func (d *driver) typeText(s string) {
	for _, r := range s {
		d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func (d *driver) press(code rune, mod ...tea.KeyMod) {
	k := tea.KeyPressMsg{Code: code}
	for _, m := range mod {
		k.Mod |= m
	}
	d.send(k)
}

func (d *driver) enter() { d.press(tea.KeyEnter) }

// line types s and Enter.
func (d *driver) line(s string) {
	d.typeText(s)
	d.enter()
}

// loggedIn returns a driver past the login as user, on the room list.
func loggedIn(t *testing.T, st *store.Client, user string) *driver {
	t.Helper()
	d := newDriver(t, newSession(st), Options{User: user})
	d.waitText("New identity " + user)
	d.enter()
	d.waitFor("the room list", func() bool { return d.m.screen == screenRooms && d.m.rooms.loaded })
	return d
}

// startEtcd starts an etcd member for the test.
func startEtcd(t *testing.T) []string {
	t.Helper()
	return storetest.StartEmbedded(t)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
