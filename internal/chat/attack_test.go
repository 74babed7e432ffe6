package chat_test

// Regression tests of the room protocol against someone with raw write
// access to etcd (anyone who runs a member), each named for what it
// guards. They play the attacker with a raw etcd client and, where the
// attacker is a departed member, with that member's own keys.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// home is what a user's home keeps across processes: pinned room states
// and chain heads. Services logged in with the same home stand for
// successive processes on one machine.
type home struct {
	mu    sync.Mutex
	rooms map[string][]byte
	heads map[string]chat.ChainHead
}

func newHome() *home {
	return &home{rooms: make(map[string][]byte), heads: make(map[string]chat.ChainHead)}
}

func (h *home) LoadRoom(room string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[room], nil
}

func (h *home) SaveRoom(room string, b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rooms[room] = b
	return nil
}

func (h *home) Advance(room string, fn func(chat.ChainHead, bool) (chat.ChainHead, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.heads[room]
	next, err := fn(cur, ok)
	if err != nil {
		return err
	}
	h.heads[room] = next
	return nil
}

func (h *home) Head(room string) (chat.ChainHead, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.heads[room]
	return cur, ok, nil
}

// user is one person: an identity and a home.
type user struct {
	id   *crypto.Identity
	home *home
}

func (e *env) person(name string) *user {
	e.t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return &user{id: id, home: newHome()}
}

// process logs u in as a new process of their home.
func (e *env) process(u *user) *chat.Service {
	e.t.Helper()
	s, err := chat.Login(ctx(e.t), e.st, u.id, chat.Options{RoomPins: u.home, Heads: u.home})
	if err != nil {
		e.t.Fatalf("Login(%s) = %v", u.id.Name(), err)
	}
	return s
}

func (e *env) raw() *clientv3.Client {
	e.t.Helper()
	raw, err := clientv3.New(clientv3.Config{Endpoints: e.eps})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { raw.Close() })
	return raw
}

func commitKey(room string, n uint64) string {
	return fmt.Sprintf("%sroom/%s/c/%010d", store.Prefix, room, n)
}

// groupOf creates room with alice and admits the others.
func groupOf(t *testing.T, room string, alice *chat.Service, others ...*chat.Service) {
	t.Helper()
	c := ctx(t)
	if _, err := alice.CreateRoom(c, names.Room(room)); err != nil {
		t.Fatal(err)
	}
	for _, s := range others {
		if err := s.RequestJoin(c, names.Room(room)); err != nil {
			t.Fatal(err)
		}
		if err := alice.Approve(c, names.Room(room), s.Me()); err != nil {
			t.Fatal(err)
		}
	}
}

// canRead reports whether s decrypts a message with text in room.
func canRead(t *testing.T, s *chat.Service, room, text string) bool {
	t.Helper()
	p, err := s.History(ctx(t), names.Room(room), 0)
	if err != nil {
		return false
	}
	for _, m := range p.Messages {
		if m.Rejected == "" && m.Text == text {
			return true
		}
	}
	return false
}

// flowRemovalTamperRefused: after a removal, changing one byte of the
// removal commit, or deleting it with its wraps, must not make a member's
// next send seal under the key the removed member holds.
func flowRemovalTamperRefused(t *testing.T, e *env) {
	c := ctx(t)
	a, b, cu := e.person("alice"), e.person("bob"), e.person("carol")
	alice, bob, carol := e.process(a), e.process(b), e.process(cu)
	groupOf(t, "r", alice, bob, carol)
	mustSend(t, carol, "r", "hello")
	if err := alice.Remove(c, "r", "bob"); err != nil {
		t.Fatal(err)
	}
	carol.History(c, "r", 0) // carol's home pins the removal
	raw := e.raw()
	k := commitKey("r", 4)
	v, err := raw.Get(c, k)
	if err != nil || len(v.Kvs) == 0 {
		t.Fatalf("removal commit: %v", err)
	}
	orig := string(v.Kvs[0].Value)
	flipped := strings.Replace(orig, `"op":"remove"`, `"op":"rotatx"`, 1)
	if flipped == orig {
		t.Fatal("test did not change the commit")
	}
	for _, attack := range []struct {
		name string
		do   func()
	}{
		{"one byte changed", func() { raw.Put(c, k, flipped) }},
		{"commit deleted", func() { raw.Delete(c, k) }},
		{"commit and wraps deleted", func() {
			raw.Delete(c, k)
			raw.Delete(c, store.Prefix+"room/r/w/0000000004/", clientv3.WithPrefix())
		}},
	} {
		attack.do()
		// A new process of carol's home.
		_, err := e.process(cu).Send(c, "r", "secret "+attack.name)
		if !errors.Is(err, chat.ErrRolledBack) {
			t.Errorf("%s: carol's send = %v, want ErrRolledBack", attack.name, err)
		}
		if canRead(t, bob, "r", "secret "+attack.name) {
			t.Errorf("%s: bob reads what carol sent after his removal", attack.name)
		}
		raw.Put(c, k, orig)
	}
}

// flowDepartedHasNoAuthority: what a member signs after leaving counts for
// nothing: a commit admitting someone, or removing someone; and the leave
// itself retires the key at once for a running member.
func flowDepartedHasNoAuthority(t *testing.T, e *env) {
	c := ctx(t)
	a, b, cu, m := e.person("alice"), e.person("bob"), e.person("carol"), e.person("mallory")
	alice, bob, carol, mallory := e.process(a), e.process(b), e.process(cu), e.process(m)
	groupOf(t, "r", alice, bob, carol)
	if err := mallory.RequestJoin(c, "r"); err != nil {
		t.Fatal(err)
	}
	sub, err := alice.Subscribe(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Leave(c, "r", chat.LeaveOptions{}); err != nil {
		t.Fatal(err)
	}
	// Alice's running client rotates at once, before anyone sends.
	waitNotice(t, sub, chat.NoticeRotated)
	if ri, _ := alice.Room(c, "r"); ri.Epoch != 2 {
		t.Fatalf("epoch after bob left = %d, want 2 (rotated at once)", ri.Epoch)
	}

	// Bob, with his own keys and raw etcd access, admits mallory and
	// removes carol in commits of his own.
	ri, _ := alice.Room(c, "r")
	for _, forged := range []store.Commit{
		{Room: "r", N: ri.Commit + 1, Op: store.OpAdd, Users: []store.Entry{{User: "mallory", Key: m.id.Public().Fingerprint(), Devices: []string{"00"}, Request: []byte{1}}}, Epoch: 2, Time: time.Now()},
		{Room: "r", N: ri.Commit + 1, Op: store.OpRemove, Users: []store.Entry{{User: "carol"}}, Epoch: 3, Time: time.Now()},
	} {
		if _, err := e.st.PutCommit(c, b.id, "r", forged, store.CommitOptions{}); err != nil {
			t.Fatal(err)
		}
		// The forgery is refused and removed; alice's send goes out.
		mustSend(t, alice, "r", "after "+forged.Op)
		if canRead(t, mallory, "r", "after "+forged.Op) {
			t.Fatalf("mallory reads after bob's forged %s", forged.Op)
		}
		if !canRead(t, carol, "r", "after "+forged.Op) {
			t.Fatalf("carol lost the room to bob's forged %s", forged.Op)
		}
		if ms, _ := alice.Members(c, "r"); len(ms) != 2 {
			t.Fatalf("members after bob's forged %s: %+v", forged.Op, ms)
		}
	}
	if canRead(t, bob, "r", "after add") {
		t.Fatal("bob reads after leaving")
	}
}

func waitNotice(t *testing.T, ch <-chan chat.Event, kind chat.NoticeKind) chat.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("events ended before a %s notice", kind)
			}
			if ev.Kind == chat.EventNotice && ev.Notice.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s notice", kind)
		}
	}
}

// flowRevisionsAreNotEvidence: re-putting records (which changes their
// etcd revisions) changes nothing a reader decides: a departed member's
// message sealed after the leave stays rejected, a never-member's message
// never shows, and a departed member's fork of the chain is refused by
// members who pinned the real one and exposed to a member's new home by
// the messages sealed under the real one.
func flowRevisionsAreNotEvidence(t *testing.T, e *env) {
	c := ctx(t)
	a, b, cu, m := e.person("alice"), e.person("bob"), e.person("carol"), e.person("mallory")
	alice, bob, carol := e.process(a), e.process(b), e.process(cu)
	e.process(m)
	groupOf(t, "r", alice, bob, carol)
	mustSend(t, bob, "r", "bob before leaving")
	pre, _ := alice.Room(c, "r")
	if err := bob.Leave(c, "r", chat.LeaveOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := e.raw()
	// Bob seals a message under the commit before his leave, numbered
	// after his last one; mallory, never a member, writes one too.
	forgeMessage(t, e, b.id, "r", pre.Commit, 2, "bob after leaving")
	forgeMessage(t, e, m.id, "r", pre.Commit, 1, "mallory never a member")
	// Delete and put back every message: new revisions, same bytes.
	all, _ := raw.Get(c, store.Prefix+"room/r/m/", clientv3.WithPrefix())
	for _, kv := range all.Kvs {
		raw.Delete(c, string(kv.Key))
		raw.Put(c, string(kv.Key), string(kv.Value))
	}
	p, err := carol.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	var bobRej, malRej string
	for _, msg := range p.Messages {
		if msg.Rejected == "" && (msg.Text == "bob after leaving" || msg.Text == "mallory never a member") {
			t.Fatalf("%q shows as genuine", msg.Text)
		}
		switch msg.Sender {
		case "bob":
			bobRej += msg.Rejected
		case "mallory":
			malRej += msg.Rejected
		}
	}
	if !strings.Contains(bobRej, "sent by bob after leaving") || !strings.Contains(malRej, "mallory was not a member") {
		t.Fatalf("rejections: bob %q, mallory %q", bobRej, malRej)
	}
	if got := texts(p); !slices.Contains(got, "bob: bob before leaving") {
		t.Fatalf("bob's genuine message lost: %q", got)
	}

	// Alice's next send rotates the retired key; carol's home pins it.
	mustSend(t, alice, "r", "after the rotation")
	carol.History(c, "r", 0)
	cur, _ := alice.Room(c, "r")
	// Bob cannot sign a commit after his leave (he is not in its roster),
	// so he forks where he still was a member: he deletes his leave and
	// what followed and writes a commit of his own in their place.
	before, err := e.st.RoomChain(c, "r", 0, pre.Commit, 1)
	if err != nil || len(before.Commits) != 1 {
		t.Fatalf("read commit %d: %v", pre.Commit, err)
	}
	for n := pre.Commit + 1; n <= cur.Commit; n++ {
		raw.Delete(c, commitKey("r", n))
	}
	pb := before.Commits[0].Body
	fork := store.Commit{
		Room: "r", N: pre.Commit + 1, Prev: before.Commits[0].Digest(), Op: store.OpDeny,
		Users: []store.Entry{{User: "zed", Request: []byte{1}}}, Epoch: pb.Epoch, KeyCheck: pb.KeyCheck,
		Roster: pb.Roster, Count: pb.Count, Time: time.Now(),
	}
	if _, err := e.st.PutCommit(c, b.id, "r", fork, store.CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.process(cu).Send(c, "r", "into the fork"); !errors.Is(err, chat.ErrRolledBack) {
		t.Fatalf("carol (pinned) sends into bob's fork: %v, want ErrRolledBack", err)
	}
	// Carol on a new machine has no pin, but alice's message, sealed under
	// the real chain, gives the fork away.
	fresh := e.process(&user{id: cu.id, home: newHome()})
	p, err = fresh.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Send(c, "r", "into the fork"); !errors.Is(err, chat.ErrTampered) {
		t.Fatalf("carol (new home) sends into bob's fork: %v, want ErrTampered", err)
	}
	if canRead(t, bob, "r", "after the rotation") {
		t.Fatal("bob reads the messages sent after his leave")
	}
}

// forgeMessage writes, with raw access, an envelope signed by id under
// commit n of room (with that commit's digest), numbered seq, whose
// ciphertext is under a key of the forger's choosing: a reader must reject
// it on who sent it, not on whether it decrypts.
func forgeMessage(t *testing.T, e *env, id *crypto.Identity, room string, n uint64, seq uint64, text string) string {
	t.Helper()
	h := crypto.Header{Commit: uint32(n), Sender: id.Name(), Seq: seq, Time: time.Now().UnixMilli()}
	// With the commit's digest if it can be read (an attacker may have
	// destroyed it).
	if cr, err := e.st.RoomChain(ctx(t), names.Room(room), 0, n, 1); err == nil && len(cr.Commits) == 1 && cr.Commits[0].Body.N == n {
		copy(h.CommitDigest[:], cr.Commits[0].Digest())
	}
	mid := crypto.NewMessageID(time.Now())
	env, err := crypto.SealMessage(id, crypto.NewRoomKey(), room, mid, h, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw().Put(ctx(t), store.Prefix+"room/"+room+"/m/"+mid.String(), string(env)); err != nil {
		t.Fatal(err)
	}
	return mid.String()
}

// flowDeletedNewestNoticed: deleting a sender's newest message is noticed
// when they send again, from any process of their home: the number is not
// reused.
func flowDeletedNewestNoticed(t *testing.T, e *env) {
	c := ctx(t)
	a, b := e.person("alice"), e.person("bob")
	alice, bob := e.process(a), e.process(b)
	groupOf(t, "r", alice, bob)
	mustSend(t, alice, "r", "one")
	two := mustSend(t, alice, "r", "two")
	e.raw().Delete(c, store.Prefix+"room/r/m/"+two.ID)
	three := mustSend(t, e.process(a), "r", "three")
	if three.Seq != 3 {
		t.Fatalf("the next send took number %d, want 3 (2 was deleted, not free)", three.Seq)
	}
	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Warnings, "1 message from alice is missing") {
		t.Fatalf("warnings = %q, want the deleted message flagged", p.Warnings)
	}
}

// flowReorderNoticed: deleting a message and putting it back moves it
// after messages that followed it; every reader whose order differs from
// the senders' notices.
func flowReorderNoticed(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.process(e.person("alice")), e.process(e.person("bob")), e.process(e.person("carol"))
	groupOf(t, "r", alice, bob, carol)
	first := mustSend(t, alice, "r", "question")
	if _, err := bob.History(c, "r", 0); err != nil { // bob sees it
		t.Fatal(err)
	}
	answer := mustSend(t, bob, "r", "answer")
	raw := e.raw()
	k := store.Prefix + "room/r/m/" + first.ID
	v, _ := raw.Get(c, k)
	raw.Delete(c, k)
	raw.Put(c, k, string(v.Kvs[0].Value))
	p, err := carol.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("message %s from bob is shown before message %s from alice, which it followed", answer.ID, first.ID)
	found := false
	for _, w := range p.Warnings {
		found = found || strings.Contains(w, want)
	}
	if !found {
		t.Fatalf("warnings = %q, want the reordering flagged", p.Warnings)
	}
}

// flowPinsOnlyFromChain: a user's key is pinned only from a commit that
// admitted it, never from a record found in etcd; and a denied request put
// back stays denied.
func flowPinsOnlyFromChain(t *testing.T, e *env) {
	c := ctx(t)
	alice, carol := e.process(e.person("alice")), e.process(e.person("carol"))
	d := e.person("dave")
	dave := e.process(d)
	groupOf(t, "r", alice)
	raw := e.raw()
	uk := store.Prefix + "users/dave"
	real, _ := raw.Get(c, uk)
	// A fake dave record while alice looks at a junk request naming dave.
	fake := e.person("dave")
	raw.Delete(c, uk)
	fs, err := store.Open(store.Config{Endpoints: e.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := chat.Login(c, fs, fake.id, chat.Options{}); err != nil {
		t.Fatal(err)
	}
	fs.PutRequest(c, fake.id, "r", store.Request{User: "dave", Key: fake.id.Public().Fingerprint(), Created: time.Now()})
	if rs, _ := alice.Requests(c, "r"); len(rs) != 1 {
		t.Fatalf("requests = %+v", rs)
	}
	// The real record comes back, dave asks for real: alice admits him.
	raw.Put(c, uk, string(real.Kvs[0].Value))
	raw.Delete(c, store.Prefix+"room/r/q/dave")
	if err := dave.RequestJoin(c, "r"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(c, "r", "dave"); err != nil {
		t.Fatalf("approve the real dave after a fake one was shown: %v", err)
	}
	mustSend(t, dave, "r", "it is me")

	// Carol is denied; her request put back is not pending again.
	if err := carol.RequestJoin(c, "r"); err != nil {
		t.Fatal(err)
	}
	rq, _ := raw.Get(c, store.Prefix+"room/r/q/carol")
	if err := alice.Deny(c, "r", "carol"); err != nil {
		t.Fatal(err)
	}
	raw.Put(c, store.Prefix+"room/r/q/carol", string(rq.Kvs[0].Value))
	rs, _ := alice.Requests(c, "r")
	for _, r := range rs {
		if r.User == "carol" {
			t.Fatal("a denied request put back is pending again")
		}
	}
}

// flowBigRoomRotation: a rotation to more wraps than etcd's default 128
// operations per transaction goes through (in several transactions, with
// the commit as the single atomic point), for a removal and for a leave.
func flowBigRoomRotation(t *testing.T, e *env) {
	c, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	alice := e.process(e.person("alice"))
	if _, err := alice.CreateRoom(c, "big"); err != nil {
		t.Fatal(err)
	}
	const n = 150
	members := make([]*chat.Service, n)
	var names []string
	for i := range members {
		members[i] = e.process(e.person(fmt.Sprintf("m%03d", i)))
		if err := members[i].RequestJoin(c, "big"); err != nil {
			t.Fatal(err)
		}
		names = append(names, members[i].Me())
	}
	for i := 0; i < n; i += chat.MaxBatchUsers {
		if _, err := alice.ApproveUsers(c, "big", names[i:min(i+chat.MaxBatchUsers, n)]); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := alice.RemoveUsers(c, "big", []string{"m000"})
	if err != nil {
		t.Fatalf("remove from a room of %d: %v", n+1, err)
	}
	if stats.Transactions < 2 || stats.Wraps != n {
		t.Fatalf("removal stats %+v, want %d wraps over several transactions", stats, n)
	}
	if err := members[1].Leave(c, "big", chat.LeaveOptions{}); err != nil {
		t.Fatalf("leave a room of %d: %v", n, err)
	}
	mustSend(t, alice, "big", "still working")
	if !canRead(t, members[n-1], "big", "still working") {
		t.Fatal("a member cannot read after the rotation")
	}
	if canRead(t, members[0], "big", "still working") || canRead(t, members[1], "big", "still working") {
		t.Fatal("a departed member reads after the rotation")
	}
}

// flowLastMemberAndDirectRooms: the last member of a group room cannot
// leave without saying so, and the closed room says it is closed; a direct
// room cannot be left (it stays usable for both).
func flowLastMemberAndDirectRooms(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.process(e.person("alice")), e.process(e.person("bob"))
	groupOf(t, "solo", alice)
	if err := alice.Leave(c, "solo", chat.LeaveOptions{}); !errors.Is(err, chat.ErrLastMember) {
		t.Fatalf("last member leaves: %v, want ErrLastMember", err)
	}
	if err := alice.Leave(c, "solo", chat.LeaveOptions{Delete: true}); err != nil {
		t.Fatal(err)
	}
	if err := bob.RequestJoin(c, "solo"); !errors.Is(err, chat.ErrClosed) {
		t.Fatalf("join a closed room: %v, want ErrClosed", err)
	}
	if ri, err := bob.Room(c, "solo"); err != nil || !ri.Closed {
		t.Fatalf("closed room: %+v, %v", ri, err)
	}
	if _, err := alice.DirectRoom(c, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Leave(c, "@alice+bob", chat.LeaveOptions{}); !errors.Is(err, chat.ErrDirectRoom) {
		t.Fatalf("leave a direct room: %v, want ErrDirectRoom", err)
	}
	mustSend(t, alice, "@alice+bob", "still here?")
	if !canRead(t, bob, "@alice+bob", "still here?") {
		t.Fatal("the direct room died")
	}
}

// flowLeaveFromNewHome: leaving from a machine that never sent into the
// room still records the leaver's real last message, so their genuine
// messages stay genuine.
func flowLeaveFromNewHome(t *testing.T, e *env) {
	c := ctx(t)
	a, b := e.person("alice"), e.person("bob")
	alice, bob := e.process(a), e.process(b)
	groupOf(t, "r", alice, bob)
	mustSend(t, bob, "r", "one")
	mustSend(t, bob, "r", "two")
	elsewhere := e.process(&user{id: b.id, home: newHome()})
	if err := elsewhere.Leave(c, "r", chat.LeaveOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := alice.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(p); len(got) != 2 || got[0] != "bob: one" || got[1] != "bob: two" {
		t.Fatalf("history after bob left from another machine = %q", got)
	}
}

// flowHugeNumberLive: a member who numbers a message 2^40 gets a warning
// from the live feed, which goes on delivering.
func flowHugeNumberLive(t *testing.T, e *env) {
	c := ctx(t)
	a, b := e.person("alice"), e.person("bob")
	alice, bob := e.process(a), e.process(b)
	groupOf(t, "r", alice, bob)
	mustSend(t, bob, "r", "one")
	sub, err := alice.Subscribe(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	two := mustSend(t, bob, "r", "two")
	// Bob's own client, its chain head set far ahead.
	b.home.mu.Lock()
	b.home.heads["r"] = chat.ChainHead{Seq: 1<<40 - 1, Last: mustID(t, two.ID)}
	b.home.mu.Unlock()
	mustSend(t, e.process(b), "r", "far ahead")
	// The warning comes, and the feed goes on delivering after it.
	waitEvent := func(what string, ok func(chat.Event) bool) {
		t.Helper()
		for {
			select {
			case ev := <-sub:
				if ok(ev) {
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the live feed gave no %s", what)
			}
		}
	}
	waitEvent("warning", func(ev chat.Event) bool { return ev.Kind == chat.EventWarning && strings.Contains(ev.Text, "skips") })
	after := mustSend(t, alice, "r", "still live")
	waitEvent("message after the warning", func(ev chat.Event) bool { return ev.Kind == chat.EventMessage && ev.Message.ID == after.ID })
}

func mustID(t *testing.T, s string) crypto.MessageID {
	t.Helper()
	id, err := crypto.ParseMessageID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// flowSameBytesPutAgain: a message put again in place with the same bytes
// (its mod revision changes) is the same, genuine message: revisions
// decide nothing.
func flowSameBytesPutAgain(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.process(e.person("alice")), e.process(e.person("bob"))
	groupOf(t, "r", alice, bob)
	m := mustSend(t, alice, "r", "still mine")
	raw := e.raw()
	k := store.Prefix + "room/r/m/" + m.ID
	v, _ := raw.Get(c, k)
	raw.Put(c, k, string(v.Kvs[0].Value))
	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(p); len(got) != 1 || got[0] != "alice: still mine" {
		t.Fatalf("history after the same bytes were put again = %q", got)
	}
}
