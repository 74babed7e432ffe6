package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// noUserError is a command that names a user nobody has created on the
// cluster, in the words of the command line: the user's name, never the
// internal name of a direct room.
type noUserError struct{ user string }

func (e *noUserError) Error() string { return fmt.Sprintf("no such user %q", e.user) }
func (e *noUserError) Unwrap() error { return chat.ErrNoUser }

func (e *noUserError) hint() string {
	return fmt.Sprintf("%s must first run parley once on this cluster (parley --user %s whoami) to create their keys", e.user, e.user)
}

// noDirectRoomError is a command on my direct room with a user ("@bob")
// before either of us opened it.
type noDirectRoomError struct{ user string }

func (e *noDirectRoomError) Error() string { return fmt.Sprintf("no direct room with %q", e.user) }
func (e *noDirectRoomError) Unwrap() error { return chat.ErrNoRoom }
func (e *noDirectRoomError) hint() string  { return "open it with: parley dm " + e.user }

// roomWords rewrites err, from an action on room (a command-line room
// argument: "general" or "@bob"), in the user's words: for a direct room,
// a missing peer becomes a *noUserError and a missing room a
// *noDirectRoomError. Other errors are returned as they are.
func roomWords(err error, room string) error {
	if err == nil || len(room) < 2 || room[0] != '@' {
		return err
	}
	peer, uerr := names.ParseUser(room[1:])
	switch {
	case uerr != nil:
		return err
	case errors.Is(err, chat.ErrNoUser):
		return &noUserError{user: peer.String()}
	case errors.Is(err, chat.ErrNoRoom):
		return &noDirectRoomError{user: peer.String()}
	}
	return err
}

// roomWordsOnErrors makes every command whose first argument is a ROOM
// report its errors with roomWords.
func roomWordsOnErrors(cmds []*cobra.Command) {
	for _, c := range cmds {
		run := c.RunE
		if run == nil || !strings.HasPrefix(strings.TrimPrefix(c.Use, c.Name()), " ROOM") {
			continue
		}
		c.RunE = func(cmd *cobra.Command, argv []string) error {
			err := run(cmd, argv)
			if len(argv) > 0 {
				err = roomWords(err, argv[0])
			}
			return err
		}
	}
}

// directRoomRE matches what may be an internal direct room name, such as
// @alice+bob; directNames checks it.
var directRoomRE = regexp.MustCompile(`@[^\s"'+@]+\+[^\s"'+@]+`)

// directNames replaces in s the internal names of my direct rooms
// ("@alice+bob", with me as alice) with the names the command line takes
// for them ("@bob"). Other users' direct rooms keep both names.
func directNames(s, me string) string {
	return directRoomRE.ReplaceAllStringFunc(s, func(m string) string {
		a, b, ok := names.Room(m).Pair()
		switch {
		case !ok:
			return m
		case a.String() == me:
			return "@" + b.String()
		case b.String() == me:
			return "@" + a.String()
		}
		return m
	})
}
