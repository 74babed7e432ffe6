package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/internal/names"
)

// Prefix is the root of every key Parley writes. The version segment lets a
// future schema live beside this one during a migration.
//
// The full layout is documented in docs/schema.md:
//
//	/parley/v1/users/<user>                          user record (public keys), create-only
//	/parley/v1/rooms/<room>                          room record, create-only
//	/parley/v1/room/<room>/s/version                 unsigned room version, bumped on leave/remove/rotate
//	/parley/v1/room/<room>/s/epoch/<epoch>           epoch record
//	/parley/v1/room/<room>/s/wrap/<epoch>/<user>     a member's sealed copy of the room keys
//	/parley/v1/room/<room>/s/request/<user>          pending join request
//	/parley/v1/room/<room>/s/denial/<user>           denied join request
//	/parley/v1/room/<room>/s/left/<epoch>/<user>     departure (leave or removal)
//	/parley/v1/room/<room>/m/<message-id>            one message envelope
const Prefix = "/parley/v1/"

const (
	usersDir = Prefix + "users/"
	roomsDir = Prefix + "rooms/"
	roomDir  = Prefix + "room/"
)

// epochWidth zero-pads epochs so that their keys sort numerically.
const epochWidth = 10

func userKey(user string) string { return usersDir + user }
func roomKey(room string) string { return roomsDir + room }

func roomPrefix(room string) string  { return roomDir + room + "/" }
func statePrefix(room string) string { return roomPrefix(room) + "s/" }
func msgPrefix(room string) string   { return roomPrefix(room) + "m/" }
func versionKey(room string) string  { return statePrefix(room) + "version" }

func epochStr(e uint32) string { return fmt.Sprintf("%0*d", epochWidth, e) }

func epochKey(room string, e uint32) string { return statePrefix(room) + "epoch/" + epochStr(e) }
func wrapKey(room string, e uint32, user string) string {
	return statePrefix(room) + "wrap/" + epochStr(e) + "/" + user
}
func requestKey(room, user string) string { return statePrefix(room) + "request/" + user }
func denialKey(room, user string) string  { return statePrefix(room) + "denial/" + user }
func leftKey(room string, e uint32, user string) string {
	return statePrefix(room) + "left/" + epochStr(e) + "/" + user
}
func msgKey(room, id string) string { return msgPrefix(room) + id }

// stateKey is a parsed key under a room's state prefix.
type stateKey struct {
	kind  string // "version", "epoch", "wrap", "request", "denial", "left"
	epoch uint32
	user  string
}

// parseStateKey parses the part of a key after statePrefix(room).
func parseStateKey(rest string) (stateKey, error) {
	parts := strings.Split(rest, "/")
	bad := func() (stateKey, error) { return stateKey{}, fmt.Errorf("unknown room state key %q", rest) }
	switch parts[0] {
	case "version":
		if len(parts) != 1 {
			return bad()
		}
		return stateKey{kind: "version"}, nil
	case "epoch":
		if len(parts) != 2 {
			return bad()
		}
		e, err := parseEpoch(parts[1])
		if err != nil {
			return bad()
		}
		return stateKey{kind: "epoch", epoch: e}, nil
	case "wrap", "left":
		if len(parts) != 3 {
			return bad()
		}
		e, err := parseEpoch(parts[1])
		if err != nil {
			return bad()
		}
		u, err := names.User(parts[2])
		if err != nil || u != parts[2] {
			return bad()
		}
		return stateKey{kind: parts[0], epoch: e, user: u}, nil
	case "request", "denial":
		if len(parts) != 2 {
			return bad()
		}
		u, err := names.User(parts[1])
		if err != nil || u != parts[1] {
			return bad()
		}
		return stateKey{kind: parts[0], user: u}, nil
	}
	return bad()
}

func parseEpoch(s string) (uint32, error) {
	if len(s) != epochWidth {
		return 0, fmt.Errorf("bad epoch %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad epoch %q", s)
	}
	return uint32(n), nil
}

// checkUser and checkRoom guard key construction: a name that is not
// canonical never becomes part of a key.
func checkUser(u string) error {
	c, err := names.User(u)
	if err != nil {
		return err
	}
	if c != u {
		return fmt.Errorf("%w: user name %q is not in canonical form %q", names.ErrInvalid, u, c)
	}
	return nil
}

func checkRoom(r string) error {
	c, err := names.AnyRoom(r)
	if err != nil {
		return err
	}
	if c != r {
		return fmt.Errorf("%w: room name %q is not in canonical form %q", names.ErrInvalid, r, c)
	}
	return nil
}
