package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/internal/names"
)

// Prefix is the root of every key Parley writes. The version segment lets a
// future schema live beside this one; schema v1 (/parley/v1/) is not read.
//
// The full layout is documented in docs/schema.md:
//
//	/parley/v2/users/<user>                               user record (public keys), create-only
//	/parley/v2/rooms/<room>                               room record, create-only
//	/parley/v2/heads/<room>                               unsigned hint: newest commit number and roster size
//	/parley/v2/member/<user>/<room>                       unsigned hint: "member" or "request", for room lists
//	/parley/v2/room/<room>/c/<n>                          membership commit n, signed, create-only
//	/parley/v2/room/<room>/w/<n>/<tag>/<user>/<device>    a member device's wrap of the epoch key, written for commit n
//	/parley/v2/room/<room>/q/<user>                       pending join request, signed by the requester
//	/parley/v2/room/<room>/m/<message-id>                 one message envelope
const Prefix = "/parley/v2/"

const (
	usersDir = Prefix + "users/"
	roomsDir = Prefix + "rooms/"
	headsDir = Prefix + "heads/"
	hintsDir = Prefix + "member/"
	roomDir  = Prefix + "room/"
)

// commitWidth zero-pads commit numbers so that their keys sort numerically.
const commitWidth = 10

// Key builders take typed names: a name that is not canonical never
// becomes part of a key (see package names).
func userKey(user names.User) string { return usersDir + string(user) }
func roomKey(room names.Room) string { return roomsDir + string(room) }
func headKey(room names.Room) string { return headsDir + string(room) }
func hintKey(user names.User, room names.Room) string {
	return hintsDir + string(user) + "/" + string(room)
}

func roomPrefix(room names.Room) string    { return roomDir + string(room) + "/" }
func commitPrefix(room names.Room) string  { return roomPrefix(room) + "c/" }
func wrapPrefix(room names.Room) string    { return roomPrefix(room) + "w/" }
func requestPrefix(room names.Room) string { return roomPrefix(room) + "q/" }
func msgPrefix(room names.Room) string     { return roomPrefix(room) + "m/" }

func commitStr(n uint64) string { return fmt.Sprintf("%0*d", commitWidth, n) }

func commitKey(room names.Room, n uint64) string { return commitPrefix(room) + commitStr(n) }
func wrapSetPrefix(room names.Room, n uint64, tag string) string {
	return wrapPrefix(room) + commitStr(n) + "/" + tag + "/"
}
func wrapKey(room names.Room, n uint64, tag string, user names.User, device string) string {
	return wrapSetPrefix(room, n, tag) + string(user) + "/" + device
}
func requestKey(room names.Room, user names.User) string { return requestPrefix(room) + string(user) }
func msgKey(room names.Room, id string) string           { return msgPrefix(room) + id }

// parseCommitKey parses the part of a commit key after commitPrefix(room).
func parseCommitKey(rest string) (uint64, error) {
	if len(rest) != commitWidth {
		return 0, fmt.Errorf("bad commit key %q", rest)
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad commit key %q", rest)
	}
	return n, nil
}

// parseRequestKey parses the part of a request key after requestPrefix(room).
func parseRequestKey(rest string) (names.User, error) {
	u, err := parseUser(rest)
	if err != nil || strings.Contains(rest, "/") {
		return "", fmt.Errorf("bad request key %q", rest)
	}
	return u, nil
}

// validTag accepts wrap-set tags and device ids: 1 to 32 lowercase hex
// digits.
func validTag(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return false
		}
	}
	return true
}

// parseUser and parseRoom read a name that did not come typed: from a key
// or a record read back from etcd, or from a record's field. It counts
// only if it is already in canonical form.
func parseUser(u string) (names.User, error) {
	c, err := names.ParseUser(u)
	if err != nil {
		return "", err
	}
	if string(c) != u {
		return "", fmt.Errorf("%w: user name %q is not in canonical form %q", names.ErrInvalid, u, c)
	}
	return c, nil
}

// validUser reports whether u, read back from etcd, is a user name in
// canonical form.
func validUser(u string) bool {
	_, err := parseUser(u)
	return err == nil
}

func parseRoom(r string) (names.Room, error) {
	c, err := names.ParseRoom(r)
	if err != nil {
		return "", err
	}
	if string(c) != r {
		return "", fmt.Errorf("%w: room name %q is not in canonical form %q", names.ErrInvalid, r, c)
	}
	return c, nil
}
