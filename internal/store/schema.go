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

func userKey(user string) string { return usersDir + user }
func roomKey(room string) string { return roomsDir + room }
func headKey(room string) string { return headsDir + room }
func hintKey(user, room string) string {
	return hintsDir + user + "/" + room
}

func roomPrefix(room string) string    { return roomDir + room + "/" }
func commitPrefix(room string) string  { return roomPrefix(room) + "c/" }
func wrapPrefix(room string) string    { return roomPrefix(room) + "w/" }
func requestPrefix(room string) string { return roomPrefix(room) + "q/" }
func msgPrefix(room string) string     { return roomPrefix(room) + "m/" }

func commitStr(n uint64) string { return fmt.Sprintf("%0*d", commitWidth, n) }

func commitKey(room string, n uint64) string { return commitPrefix(room) + commitStr(n) }
func wrapSetPrefix(room string, n uint64, tag string) string {
	return wrapPrefix(room) + commitStr(n) + "/" + tag + "/"
}
func wrapKey(room string, n uint64, tag, user, device string) string {
	return wrapSetPrefix(room, n, tag) + user + "/" + device
}
func requestKey(room, user string) string { return requestPrefix(room) + user }
func msgKey(room, id string) string       { return msgPrefix(room) + id }

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
func parseRequestKey(rest string) (string, error) {
	u, err := names.ParseUser(rest)
	if err != nil || string(u) != rest || strings.Contains(rest, "/") {
		return "", fmt.Errorf("bad request key %q", rest)
	}
	return string(u), nil
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

// checkUser and checkRoom guard key construction: a name that is not
// canonical never becomes part of a key.
func checkUser(u string) error {
	c, err := names.ParseUser(u)
	if err != nil {
		return err
	}
	if string(c) != u {
		return fmt.Errorf("%w: user name %q is not in canonical form %q", names.ErrInvalid, u, c)
	}
	return nil
}

func checkRoom(r string) error {
	c, err := names.ParseRoom(r)
	if err != nil {
		return err
	}
	if string(c) != r {
		return fmt.Errorf("%w: room name %q is not in canonical form %q", names.ErrInvalid, r, c)
	}
	return nil
}
