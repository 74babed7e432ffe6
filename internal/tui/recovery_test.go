package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/store"
)

// recoverySession is a Session that registers new users with a recovery
// code, as *cli.App does, and hands the code to the interface once.
type recoverySession struct {
	st    *store.Client
	ids   map[string]*crypto.Identity
	code  string
	taken int
}

func (s *recoverySession) KeystoreExists(user string) (bool, bool) { return s.ids[user] != nil, false }

func (s *recoverySession) Login(ctx context.Context, user string, _ []byte) (*chat.Service, error) {
	id := s.ids[user]
	var opts chat.Options
	var code crypto.RecoveryCode
	if id == nil {
		var err error
		if id, err = crypto.NewIdentity(user); err != nil {
			return nil, err
		}
		s.ids[user] = id
		code = crypto.NewRecoveryCode()
		if opts.Recovery, err = code.RecoveryIdentity(user); err != nil {
			return nil, err
		}
	}
	svc, err := chat.Login(ctx, s.st, id, opts)
	if err == nil && svc.Registered() {
		s.code = code.String()
	}
	return svc, err
}

func (s *recoverySession) TakeRecoveryCode() string {
	c := s.code
	s.code = ""
	if c != "" {
		s.taken++
	}
	return c
}

// TestRecoveryCodeShownOnce: a user registered in the chat sees their
// recovery code on the room list, once; a later login does not show it.
func TestRecoveryCodeShownOnce(t *testing.T) {
	st := openStore(t, startEtcd(t))
	sess := &recoverySession{st: st, ids: map[string]*crypto.Identity{}}
	d := newDriver(t, sess, Options{User: "alice"})
	d.waitText("New identity alice")
	d.enter()
	d.waitFor("the room list", func() bool { return d.m.screen == screenRooms && d.m.rooms.loaded })
	d.waitText("Your recovery code, shown only now:")
	if !strings.Contains(d.m.rooms.info, "-") || sess.taken != 1 {
		t.Fatalf("room list info %q, codes taken %d", d.m.rooms.info, sess.taken)
	}
	code := strings.Fields(strings.TrimPrefix(d.m.rooms.info, "Your recovery code, shown only now: "))[0]
	if _, err := crypto.ParseRecoveryCode(code); err != nil {
		t.Fatalf("the code shown, %q, does not parse: %v", code, err)
	}

	again := newDriver(t, sess, Options{User: "alice"})
	again.waitFor("the room list", func() bool { return again.m.screen == screenRooms && again.m.rooms.loaded })
	if strings.Contains(again.m.rooms.info, "recovery code") || sess.taken != 1 {
		t.Fatalf("a second login shows %q (codes taken %d)", again.m.rooms.info, sess.taken)
	}
}
