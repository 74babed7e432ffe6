package chat_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/testkit"
)

// flowOpenRoom: OpenRoom reads, in one call, what a conversation opens
// with: the newest page, the members, the pending requests and the
// summary since my read mark; a non-member gets an error and nothing.
func flowOpenRoom(t *testing.T, e *env) {
	c := ctx(t)
	alice, carol := e.login("alice"), e.login("carol")
	bobID, err := crypto.NewIdentity("bob")
	if err != nil {
		t.Fatal(err)
	}
	marks := &testkit.ReadMarks{}
	bob, err := chat.Login(c, e.st, bobID, chat.Options{ReadMarks: marks})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(c, "den"); err != nil {
		t.Fatal(err)
	}
	if err := bob.RequestJoin(c, "den"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(c, "den", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := carol.RequestJoin(c, "den"); err != nil {
		t.Fatal(err)
	}
	seen := mustSend(t, alice, "den", "seen")
	mustSend(t, bob, "den", "mine")
	mustSend(t, alice, "den", "one")
	last := mustSend(t, alice, "den", "two @bob")
	if err := bob.MarkRead("den", seen.Revision); err != nil {
		t.Fatal(err)
	}

	scr, err := bob.OpenRoom(c, "den", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(scr.Page), []string{"bob: mine", "alice: one", "alice: two @bob"}; !slices.Equal(got, want) {
		t.Errorf("page = %q, want %q", got, want)
	}
	if !scr.Page.More || scr.Page.Cursor == "" {
		t.Errorf("page of 3 out of 4: more %v, cursor %q", scr.Page.More, scr.Page.Cursor)
	}
	if scr.Room.Name != "den" || !scr.Room.Member || scr.Room.MemberCount != 2 {
		t.Errorf("room = %+v", scr.Room)
	}
	var members []string
	for _, m := range scr.Members {
		members = append(members, m.Name)
		if m.Fingerprint == "" || m.Verified {
			t.Errorf("member %+v: want a fingerprint, not verified", m)
		}
		if m.Me != (m.Name == "bob") || m.Creator != (m.Name == "alice") {
			t.Errorf("member %+v: wrong marks", m)
		}
	}
	if !slices.Equal(members, []string{"alice", "bob"}) {
		t.Errorf("members = %q", members)
	}
	if len(scr.Requests) != 1 || scr.Requests[0].User != "carol" {
		t.Errorf("requests = %+v, want carol's", scr.Requests)
	}
	// The page stops short of the read mark: there may be more unread.
	if s := scr.Summary; s.Room != "den" || s.Last.ID != last.ID || s.Unread != 2 || s.Mentions != 1 || !s.UnreadMore {
		t.Errorf("summary = unread %d, mentions %d, more %v, last %q; want 2, 1, true, %q", s.Unread, s.Mentions, s.UnreadMore, s.Last.Text, last.Text)
	}
	if scr, err := bob.OpenRoom(c, "den", 10); err != nil {
		t.Fatal(err)
	} else if s := scr.Summary; s.Unread != 2 || s.Mentions != 1 || s.UnreadMore || scr.Page.More {
		t.Errorf("summary of the whole room = unread %d, mentions %d, more %v; want 2, 1, false", s.Unread, s.Mentions, s.UnreadMore)
	}

	// The whole history, from a member without read marks.
	all, err := alice.OpenRoom(c, "den", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Page.Messages) != 4 || all.Page.More || all.Summary.Unread != 0 || all.Summary.Last.ID != last.ID {
		t.Errorf("alice's screen: %d messages, more %v, summary %+v", len(all.Page.Messages), all.Page.More, all.Summary)
	}

	if scr, err := carol.OpenRoom(c, "den", 10); !errors.Is(err, chat.ErrNotMember) || scr.Page != nil {
		t.Errorf("a non-member's OpenRoom = %+v, %v; want nothing and ErrNotMember", scr, err)
	}
	if _, err := bob.OpenRoom(c, "no such room!", 10); err == nil {
		t.Error("OpenRoom of an invalid name succeeded")
	}
}
