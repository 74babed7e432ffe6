package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
)

func TestDirectNames(t *testing.T) {
	for _, tt := range []struct{ in, me, want string }{
		{`create "@bob+nosuchuser": no such user`, "bob", `create "@nosuchuser": no such user`},
		{`approve "carol" in "@alice+bob": no pending join request`, "bob", `approve "carol" in "@alice": no pending join request`},
		{`approve "carol" in "@alice+bob": no pending join request`, "alice", `approve "carol" in "@bob": no pending join request`},
		{`room "@alice+bob" of others`, "carol", `room "@alice+bob" of others`},
		{`not a direct room: "@bob+alice"`, "bob", `not a direct room: "@bob+alice"`},
		{`send to "general": message too long`, "bob", `send to "general": message too long`},
	} {
		if got := directNames(tt.in, tt.me); got != tt.want {
			t.Errorf("directNames(%q, %q) = %q, want %q", tt.in, tt.me, got, tt.want)
		}
	}
}

func TestRoomWords(t *testing.T) {
	noUser := fmt.Errorf("create %q: %w: %q", "@bob+zed", chat.ErrNoUser, "zed")
	noRoom := fmt.Errorf("send to %q: %w", "@bob+zed", chat.ErrNoRoom)
	for _, tt := range []struct {
		err  error
		room string
		want string
	}{
		{noUser, "@zed", `no such user "zed"`},
		{noUser, "@Zed", `no such user "zed"`},
		{noRoom, "@zed", `no direct room with "zed"`},
		{noRoom, "general", noRoom.Error()},
		{noUser, "@", noUser.Error()},
		{chat.ErrDenied, "@zed", chat.ErrDenied.Error()},
	} {
		got := roomWords(tt.err, tt.room)
		if got.Error() != tt.want {
			t.Errorf("roomWords(%q, %q) = %q, want %q", tt.err, tt.room, got, tt.want)
		}
		if !errors.Is(got, chat.ErrNoUser) && errors.Is(tt.err, chat.ErrNoUser) ||
			!errors.Is(got, chat.ErrNoRoom) && errors.Is(tt.err, chat.ErrNoRoom) {
			t.Errorf("roomWords(%q, %q) = %q lost its sentinel", tt.err, tt.room, got)
		}
	}
	if roomWords(nil, "@zed") != nil {
		t.Error("roomWords(nil) is not nil")
	}
}
