package chat_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
	"github.com/parley-chat/parley/internal/testkit"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type env struct {
	t   *testing.T
	eps []string
	st  *store.Client
}

// flows run against every kind of etcd Parley supports.
var flows = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"UsernameTaken", flowUsernameTaken},
	{"GroupRoomFlow", flowGroupRoomFlow},
	{"ConcurrentApprovals", flowConcurrentApprovals},
	{"DirectRoom", flowDirectRoom},
	{"LeaveAndRemoveRotate", flowLeaveAndRemoveRotate},
	{"ConcurrentSendersOneOrder", flowConcurrentSendersOneOrder},
	{"TamperedRecordsRejected", flowTamperedRecordsRejected},
	{"SubscribeLive", flowSubscribeLive},
	{"RollbackRefused", flowRollbackRefused},
	{"SubscribeAfterCompaction", flowSubscribeAfterCompaction},
	{"OutboxExactlyOnce", flowOutboxExactlyOnce},
	{"VerifiedCache", flowVerifiedCache},
	{"LostAckQueuedOnce", flowLostAckQueuedOnce},
	{"SlowCluster", flowSlowCluster},
	{"WatchRooms", flowWatchRooms},
	{"UnreadSince", flowUnreadSince},
	{"StreamForwardAsHistory", flowStreamForwardAsHistory},
	{"HistoryCutShortFails", flowHistoryCutShortFails},
	{"HugeSequenceNumber", flowHugeSequenceNumber},
	{"StreamForwardNewMember", flowStreamForwardNewMember},
	{"OpenRoom", flowOpenRoom},
	// Room protocol v2 regressions (attack_test.go).
	{"RemovalTamperRefused", flowRemovalTamperRefused},
	{"DepartedHasNoAuthority", flowDepartedHasNoAuthority},
	{"RevisionsAreNotEvidence", flowRevisionsAreNotEvidence},
	{"DeletedNewestNoticed", flowDeletedNewestNoticed},
	{"ReorderNoticed", flowReorderNoticed},
	{"PinsOnlyFromChain", flowPinsOnlyFromChain},
	{"BigRoomRotation", flowBigRoomRotation},
	{"LastMemberAndDirectRooms", flowLastMemberAndDirectRooms},
	{"LeaveFromNewHome", flowLeaveFromNewHome},
	{"HugeNumberLive", flowHugeNumberLive},
	{"SameBytesPutAgain", flowSameBytesPutAgain},
	// Devices (device_test.go).
	{"DeviceLinkSendRevoke", flowDeviceLinkSendRevoke},
	{"DeviceLinkTampered", flowDeviceLinkTampered},
	{"DeviceForgedRefused", flowDeviceForgedRefused},
	{"DeviceRecovery", flowDeviceRecovery},
	{"IdentityRotation", flowIdentityRotation},
	{"IdentityRotationHalfDone", flowIdentityRotationHalfDone},
	{"RevokeReachesHiddenRooms", flowRevokeReachesHiddenRooms},
	// Conversation features (conversation_test.go).
	{"ConversationEvents", flowConversationEvents},
	{"DisappearingMessages", flowDisappearingMessages},
}

// TestEmbedded runs every flow on an in-process embedded etcd member.
func TestEmbedded(t *testing.T) {
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			f.fn(t, newEnv(t, storetest.StartEmbedded(t)))
		})
	}
}

// TestStockEtcd runs every flow on a stock etcd server process (Debian's
// etcd-server, 3.4 or newer).
func TestStockEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts etcd processes")
	}
	bin := storetest.StockEtcd(t)
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			f.fn(t, newEnv(t, storetest.StartStock(t, bin)))
		})
	}
}

func newEnv(t *testing.T, eps []string) *env {
	t.Helper()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, eps: eps, st: st}
}

func (e *env) login(name string) *chat.Service {
	e.t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := chat.Login(ctx(e.t), e.st, id, chat.Options{})
	if err != nil {
		e.t.Fatalf("Login(%s) = %v", name, err)
	}
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func texts(p *chat.Page) []string {
	var out []string
	for _, m := range p.Messages {
		if m.Rejected != "" {
			out = append(out, "REJECTED:"+m.Rejected)
			continue
		}
		out = append(out, m.Sender+": "+m.Text)
	}
	return out
}

func mustSend(t *testing.T, s *chat.Service, room, text string) chat.Message {
	t.Helper()
	m, err := s.Send(ctx(t), names.Room(room), text)
	if err != nil {
		t.Fatalf("%s: Send(%s, %q) = %v", s.Me(), room, text, err)
	}
	return m
}

func flowUsernameTaken(t *testing.T, e *env) {
	e.login("alice")
	id, _ := crypto.NewIdentity("alice")
	if _, err := chat.Login(ctx(t), e.st, id, chat.Options{}); !errors.Is(err, chat.ErrNameTaken) {
		t.Fatalf("second alice Login = %v, want ErrNameTaken", err)
	}
}

func flowGroupRoomFlow(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.login("alice"), e.login("bob"), e.login("carol")

	if _, err := alice.CreateRoom(c, "general"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.CreateRoom(c, "general"); !errors.Is(err, chat.ErrRoomExists) {
		t.Fatalf("second create = %v, want ErrRoomExists", err)
	}
	mustSend(t, alice, "general", "hello before bob")
	if _, err := bob.Send(c, "general", "let me in"); !errors.Is(err, chat.ErrNotMember) {
		t.Fatalf("non-member send = %v, want ErrNotMember", err)
	}
	if _, err := bob.History(c, "general", 0); !errors.Is(err, chat.ErrNotMember) {
		t.Fatalf("non-member read = %v, want ErrNotMember", err)
	}

	// Bob asks, waits; alice approves while he waits.
	if err := bob.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	reqs, err := alice.Requests(c, "general")
	if err != nil || len(reqs) != 1 || reqs[0].User != "bob" {
		t.Fatalf("Requests = %v, %v", reqs, err)
	}
	waited := make(chan error, 1)
	go func() {
		a, err := bob.WaitApproval(c, "general")
		if err == nil && a.By != "alice" {
			err = fmt.Errorf("approved by %q", a.By)
		}
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := alice.Approve(c, "general", "bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitApproval = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitApproval did not return after approval")
	}
	p, err := bob.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: hello before bob"}; !slices.Equal(got, want) {
		t.Fatalf("bob's history = %q, want %q", got, want)
	}
	mustSend(t, bob, "general", "thanks")

	// Carol is denied.
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Deny(c, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitApproval(c, "general"); !errors.Is(err, chat.ErrDenied) {
		t.Fatalf("carol WaitApproval = %v, want ErrDenied", err)
	}
	// She asks again and is approved; she reads everything.
	if err := carol.RequestJoin(c, "general"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Approve(c, "general", "carol"); err != nil {
		t.Fatal(err)
	}
	p, err = carol.History(c, "general", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: hello before bob", "bob: thanks"}; !slices.Equal(got, want) {
		t.Fatalf("carol's history = %q, want %q", got, want)
	}
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings on honest history: %q", p.Warnings)
	}
	mem, err := alice.Members(c, "general")
	if err != nil || len(mem) != 3 {
		t.Fatalf("Members = %v, %v", mem, err)
	}
}

func flowConcurrentApprovals(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.login("alice"), e.login("bob"), e.login("carol")
	alice.CreateRoom(c, "r")
	bob.RequestJoin(c, "r")
	alice.Approve(c, "r", "bob")
	carol.RequestJoin(c, "r")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*chat.Service{alice, bob} {
		wg.Go(func() { errs[i] = s.Approve(c, "r", "carol") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, chat.ErrAlreadyMember) {
			t.Fatalf("approve error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals succeeded (%v), want exactly 1", ok, errs)
	}
	mustSend(t, carol, "r", "in")
}

func flowDirectRoom(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.login("alice"), e.login("bob"), e.login("carol")
	r, err := alice.DirectRoom(c, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "@alice+bob" || r.Peer != "bob" || !r.Member {
		t.Fatalf("DirectRoom = %+v", r)
	}
	r2, err := bob.DirectRoom(c, "alice")
	if err != nil || r2.Name != r.Name {
		t.Fatalf("bob's DirectRoom = %+v, %v", r2, err)
	}
	for _, tc := range []struct {
		s   *chat.Service
		arg string
	}{{alice, "@bob"}, {bob, "@Alice"}, {carol, "@alice+bob"}} {
		if got, err := tc.s.ParseRoom(tc.arg); err != nil || got != "@alice+bob" {
			t.Fatalf("%s: ParseRoom(%q) = %q, %v; want @alice+bob", tc.s.Me(), tc.arg, got, err)
		}
	}
	mustSend(t, alice, "@alice+bob", "psst")
	mustSend(t, bob, "@alice+bob", "hi")
	p, err := bob.History(c, "@alice+bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: psst", "bob: hi"}; !slices.Equal(got, want) {
		t.Fatalf("history = %q, want %q", got, want)
	}
	if err := carol.RequestJoin(c, names.Room(r.Name)); !errors.Is(err, chat.ErrDirectRoom) {
		t.Fatalf("carol joins direct room: %v, want ErrDirectRoom", err)
	}
	if _, err := carol.History(c, names.Room(r.Name), 0); !errors.Is(err, chat.ErrNotMember) {
		t.Fatalf("carol reads direct room: %v", err)
	}
	rooms, _, err := carol.Rooms(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, ri := range rooms {
		if ri.Name == r.Name {
			t.Fatalf("carol lists alice and bob's direct room")
		}
	}
	if _, err := alice.DirectRoom(c, "alice"); err == nil {
		t.Fatal("direct room with oneself succeeded")
	}
}

func flowLeaveAndRemoveRotate(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.login("alice"), e.login("bob"), e.login("carol")
	alice.CreateRoom(c, "team")
	for _, s := range []*chat.Service{bob, carol} {
		if err := s.RequestJoin(c, "team"); err != nil {
			t.Fatal(err)
		}
		if err := alice.Approve(c, "team", s.Me()); err != nil {
			t.Fatal(err)
		}
	}
	mustSend(t, bob, "team", "before")
	if err := bob.Leave(c, "team", chat.LeaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(c, "team", "after leaving"); !errors.Is(err, chat.ErrNotMember) {
		t.Fatalf("bob sends after leaving: %v", err)
	}
	m := mustSend(t, alice, "team", "secret after bob left")
	if m.Epoch != 2 {
		t.Fatalf("message after leave sent in epoch %d, want 2 (rotated)", m.Epoch)
	}
	// Bob still holds epoch 1 and reads the old history, but not the new.
	p, err := bob.History(c, "team", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := texts(p)
	if len(got) != 2 || got[0] != "bob: before" || !strings.Contains(got[1], "no key for epoch 2") {
		t.Fatalf("bob's history after leaving = %q", got)
	}
	// Removal by a member rotates at once.
	if err := carol.Remove(c, "team", "alice"); !errors.Is(err, chat.ErrNotAllowed) {
		t.Fatalf("removing the creator: %v, want ErrNotAllowed", err)
	}
	if err := alice.Remove(c, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	ri, _ := alice.Room(c, "team")
	if ri.Epoch != 3 || !slices.Equal(ri.Members, []string{"alice"}) {
		t.Fatalf("after removal: %+v", ri)
	}
	mustSend(t, alice, "team", "only me")
	p, _ = carol.History(c, "team", 0)
	last := p.Messages[len(p.Messages)-1]
	if last.Rejected == "" {
		t.Fatalf("removed carol read %q", last.Text)
	}
	p, _ = alice.History(c, "team", 0)
	if got := texts(p); len(got) != 3 || got[2] != "alice: only me" {
		t.Fatalf("alice's history = %q", got)
	}
}

func flowConcurrentSendersOneOrder(t *testing.T, e *env) {
	c := ctx(t)
	users := []*chat.Service{e.login("alice"), e.login("bob"), e.login("carol")}
	users[0].CreateRoom(c, "busy")
	for _, s := range users[1:] {
		s.RequestJoin(c, "busy")
		if err := users[0].Approve(c, "busy", s.Me()); err != nil {
			t.Fatal(err)
		}
	}
	const per = 40
	// A live reader must see the same order as the history.
	start, err := users[1].History(c, "busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(c)
	defer cancel()
	live, err := users[1].Subscribe(sctx, "busy", start.Revision+1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range users {
		for w := 0; w < 4; w++ {
			wg.Go(func() {
				for i := 0; i < per/4; i++ {
					if _, err := s.Send(c, "busy", fmt.Sprintf("%s-%d-%d", s.Me(), w, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	var first []string
	for _, s := range users {
		p, err := s.History(c, "busy", 0)
		if err != nil {
			t.Fatal(err)
		}
		got := texts(p)
		if len(got) != per*len(users) {
			t.Fatalf("%s sees %d messages, want %d", s.Me(), len(got), per*len(users))
		}
		seen := map[string]bool{}
		for _, x := range got {
			if seen[x] {
				t.Fatalf("duplicate %q", x)
			}
			seen[x] = true
		}
		if len(p.Warnings) != 0 {
			t.Fatalf("warnings: %q", p.Warnings)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(first, got) {
			t.Fatalf("%s sees a different order", s.Me())
		}
	}
	var liveOrder []string
	for len(liveOrder) < len(first) {
		select {
		case ev := <-live:
			if ev.Kind == chat.EventMessage {
				liveOrder = append(liveOrder, ev.Message.Sender+": "+ev.Message.Text)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("live reader got %d of %d messages", len(liveOrder), len(first))
		}
	}
	if !slices.Equal(liveOrder, first) {
		t.Fatalf("live order differs from history order")
	}
}

func flowTamperedRecordsRejected(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	alice.CreateRoom(c, "r")
	alice.CreateRoom(c, "other")
	bob.RequestJoin(c, "r")
	alice.Approve(c, "r", "bob")
	m1 := mustSend(t, alice, "r", "one")
	m2 := mustSend(t, bob, "r", "two")
	mustSend(t, alice, "r", "three")
	mustSend(t, alice, "r", "four")

	raw, err := clientv3.New(clientv3.Config{Endpoints: e.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	prefix := store.Prefix + "room/r/m/"
	// Tamper with one byte of m2, move m1 to another room, forge garbage,
	// delete "three".
	v, _ := raw.Get(c, prefix+m2.ID)
	b := []byte(string(v.Kvs[0].Value))
	b[len(b)-70] ^= 1
	raw.Put(c, prefix+m2.ID, string(b))
	v1, _ := raw.Get(c, prefix+m1.ID)
	movedID := crypto.NewMessageID(time.Now()).String()
	raw.Put(c, store.Prefix+"room/other/m/"+movedID, string(v1.Kvs[0].Value))
	forgedID := crypto.NewMessageID(time.Now()).String()
	raw.Put(c, prefix+forgedID, "not an envelope")
	p, _ := alice.History(c, "r", 0)
	for _, m := range p.Messages {
		if m.Text == "three" {
			raw.Delete(c, prefix+m.ID)
		}
	}

	p, err = bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := texts(p)
	want := []string{"alice: one", "REJECTED", "alice: four", "REJECTED"}
	if len(got) != len(want) {
		t.Fatalf("history = %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("history[%d] = %q, want prefix %q (all: %q)", i, got[i], want[i], got)
		}
	}
	if !slices.Contains(p.Warnings, "1 message from alice is missing") {
		t.Fatalf("warnings = %q, want the deleted message flagged", p.Warnings)
	}
	po, _ := alice.History(c, "other", 0)
	if len(po.Messages) != 1 || po.Messages[0].Rejected == "" {
		t.Fatalf("moved message in other room: %+v", po.Messages)
	}
}

func flowSubscribeLive(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	alice.CreateRoom(c, "live")
	p, _ := alice.History(c, "live", 0)
	sctx, cancel := context.WithCancel(c)
	defer cancel()
	ch, err := alice.Subscribe(sctx, "live", p.Revision+1)
	if err != nil {
		t.Fatal(err)
	}
	bob.RequestJoin(c, "live")
	next := func(kind chat.EventKind) chat.Event {
		t.Helper()
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatal("subscription closed")
				}
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no event of kind %d", kind)
			}
		}
	}
	if ev := next(chat.EventNotice); ev.Notice.Kind != chat.NoticeRequest || ev.Notice.User != "bob" {
		t.Fatalf("notice = %+v", ev)
	}
	alice.Approve(c, "live", "bob")
	mustSend(t, bob, "live", "hi alice")
	if ev := next(chat.EventMessage); ev.Message.Text != "hi alice" || ev.Message.Sender != "bob" {
		t.Fatalf("message event = %+v", ev)
	}
}

func flowRollbackRefused(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob, carol := e.login("alice"), e.login("bob"), e.login("carol")
	alice.CreateRoom(c, "r")
	bob.RequestJoin(c, "r")
	alice.Approve(c, "r", "bob")
	if err := alice.Remove(c, "r", "bob"); err != nil {
		t.Fatal(err)
	}
	carol.RequestJoin(c, "r")
	// Someone with etcd access deletes commit 3 (the removal), so the room
	// looks as if bob (who holds epoch 1) were still a member.
	raw, err := clientv3.New(clientv3.Config{Endpoints: e.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Delete(c, store.Prefix+"room/r/c/0000000003"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(c, "r", "carol"); !errors.Is(err, chat.ErrRolledBack) {
		t.Fatalf("approve in a rolled-back room = %v, want ErrRolledBack", err)
	}
}

// flowSubscribeAfterCompaction subscribes from a revision that etcd has
// compacted away: the subscription must re-read and deliver every message
// sent since, once each, in order.
func flowSubscribeAfterCompaction(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	alice.CreateRoom(c, "r")
	mustSend(t, alice, "r", "seen")
	p, err := alice.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		m := mustSend(t, alice, "r", fmt.Sprintf("missed %d", i))
		want = append(want, m.Text)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: e.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resp, err := raw.Get(c, "anything")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Compact(c, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(c)
	defer cancel()
	ch, err := alice.Subscribe(sctx, "r", p.Revision+1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < len(want) {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("subscription closed")
			}
			if ev.Kind == chat.EventMessage {
				got = append(got, ev.Message.Text)
			}
		case <-timeout:
			t.Fatalf("after compaction got %q, want %q", got, want)
		}
	}
	mustSend(t, alice, "r", "live again")
	for {
		select {
		case ev := <-ch:
			if ev.Kind != chat.EventMessage {
				continue
			}
			got = append(got, ev.Message.Text)
			if !slices.Equal(got, append(want, "live again")) {
				t.Fatalf("got %q", got)
			}
			return
		case <-time.After(15 * time.Second):
			t.Fatal("no live message after catching up")
		}
	}
}

// flowOutboxExactlyOnce queues messages while the cluster is unreachable,
// then delivers them from a restarted client, twice over (as after a crash
// between the write and the outbox cleanup): each arrives exactly once, in
// order, with an unbroken chain.
func flowOutboxExactlyOnce(t *testing.T, e *env) {
	c := ctx(t)
	id, _ := crypto.NewIdentity("alice")
	ob := &testkit.Outbox{}
	online, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	online.CreateRoom(c, "r")
	mustSend(t, online, "r", "before")

	dead, err := store.Open(store.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	offline, err := chat.Login(c, dead, id, chat.Options{Outbox: ob, Claimed: true})
	if err != nil {
		t.Fatalf("offline login with a confirmed identity: %v", err)
	}
	for _, text := range []string{"queued 1", "queued 2"} {
		m, err := offline.SendOrQueue(c, "r", text, 300*time.Millisecond)
		if err != nil || !m.Pending {
			t.Fatalf("SendOrQueue offline = %+v, %v; want pending", m, err)
		}
	}
	if p, _ := offline.Pending(); len(p) != 2 || p[0].Text != "queued 1" {
		t.Fatalf("Pending = %+v", p)
	}

	// A new client (the restart) delivers; keep a copy of the outbox as it
	// was after the envelopes were fixed, to replay a crash.
	restarted, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	done, err := restarted.DeliverOutbox(c)
	if err != nil || len(done) != 2 {
		t.Fatalf("DeliverOutbox = %d, %v", len(done), err)
	}
	if p, _ := restarted.Pending(); len(p) != 0 {
		t.Fatalf("outbox not empty after delivery: %+v", p)
	}
	p, err := restarted.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(p), []string{"alice: before", "alice: queued 1", "alice: queued 2"}; !slices.Equal(got, want) {
		t.Fatalf("history = %q, want %q", got, want)
	}
	if len(p.Warnings) != 0 {
		t.Fatalf("warnings: %q", p.Warnings)
	}

	// A crash after the writes but before the outbox was cleaned: the
	// entries come back, with their fixed envelopes, and are delivered
	// again without duplicates.
	ob.Restore()
	again, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := again.DeliverOutbox(c); err != nil || len(done) != 2 {
		t.Fatalf("second DeliverOutbox = %d, %v", len(done), err)
	}
	p, _ = again.History(c, "r", 0)
	if got := texts(p); len(got) != 3 || len(p.Warnings) != 0 {
		t.Fatalf("after replayed delivery: %q, warnings %q", got, p.Warnings)
	}
}

type memVerified struct {
	mu   sync.Mutex
	m    map[[16]byte]bool
	hits int
}

func (c *memVerified) Seen(room string, d [16]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[d] {
		c.hits++
	}
	return c.m[d]
}

func (c *memVerified) Add(room string, ds [][16]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		c.m[d] = true
	}
	return nil
}

// flowVerifiedCache: a reopened room skips signature checks of records it
// verified before, but a record changed since is verified again.
func flowVerifiedCache(t *testing.T, e *env) {
	c := ctx(t)
	alice := e.login("alice")
	alice.CreateRoom(c, "r")
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		ids = append(ids, mustSend(t, alice, "r", text).ID)
	}
	cache := &memVerified{m: map[[16]byte]bool{}}
	id, _ := crypto.NewIdentity("bob")
	bob, err := chat.Login(c, e.st, id, chat.Options{Verified: cache})
	if err != nil {
		t.Fatal(err)
	}
	bob.RequestJoin(c, "r")
	alice.Approve(c, "r", "bob")
	if _, err := bob.History(c, "r", 0); err != nil {
		t.Fatal(err)
	}
	if len(cache.m) != 3 || cache.hits != 0 {
		t.Fatalf("after first read: %d cached, %d hits", len(cache.m), cache.hits)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: e.eps})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	key := store.Prefix + "room/r/m/" + ids[1]
	v, _ := raw.Get(c, key)
	b := []byte(string(v.Kvs[0].Value))
	b[len(b)-1] ^= 0x80 // the signature's last byte
	// Deleted and written again, so only the signature can tell.
	raw.Delete(c, key)
	raw.Put(c, key, string(b))
	p, err := bob.History(c, "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cache.hits != 2 {
		t.Fatalf("second read: %d cache hits, want 2", cache.hits)
	}
	if got := texts(p); len(got) != 3 || got[0] != "alice: one" || got[1] != "alice: three" || !strings.Contains(got[2], "signature") {
		t.Fatalf("second read = %q", got)
	}
}

// loginThroughProxy logs a new "alice" in through a testkit.Proxy in front
// of the env's first member, for the length of the test.
func loginThroughProxy(t *testing.T, e *env, opts chat.Options) (*testkit.Proxy, *crypto.Identity, *chat.Service) {
	t.Helper()
	proxy := testkit.NewProxy(t, e.eps[0])
	st, err := store.Open(store.Config{Endpoints: []string{proxy.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := crypto.NewIdentity("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := chat.Login(ctx(t), st, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	return proxy, id, alice
}

// flowLostAckQueuedOnce: a send whose write commits but whose reply is lost
// is queued under the same id and bytes, so delivering the queue later does
// not make it appear twice.
func flowLostAckQueuedOnce(t *testing.T, e *env) {
	c := ctx(t)
	ob := &testkit.Outbox{}
	proxy, id, alice := loginThroughProxy(t, e, chat.Options{Outbox: ob})
	alice.CreateRoom(c, "r")
	mustSend(t, alice, "r", "first")

	proxy.DropReplies(true)
	m, err := alice.SendOrQueue(c, "r", "lost ack", 500*time.Millisecond)
	if err != nil || !m.Pending {
		t.Fatalf("SendOrQueue with lost replies = %+v, %v; want pending", m, err)
	}
	// It did commit.
	direct, err := chat.Login(c, e.st, id, chat.Options{Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := direct.History(c, "r", 0)
	if got := texts(p); len(got) != 2 || got[1] != "alice: lost ack" {
		t.Fatalf("history before delivery = %q", got)
	}
	done, err := direct.DeliverOutbox(c)
	if err != nil || len(done) != 1 || done[0].ID != m.ID {
		t.Fatalf("DeliverOutbox = %+v, %v", done, err)
	}
	p, _ = direct.History(c, "r", 0)
	if got := texts(p); len(got) != 2 || len(p.Warnings) != 0 {
		t.Fatalf("after delivery: %q, warnings %q", got, p.Warnings)
	}
}

// flowSlowCluster: a cluster whose every reply takes longer than a first
// write attempt may (members far away) still takes sends, each once: the
// attempts grow, then follow the latency they learn.
func flowSlowCluster(t *testing.T, e *env) {
	c := ctx(t)
	proxy, id, alice := loginThroughProxy(t, e, chat.Options{})
	if _, err := alice.CreateRoom(c, "far"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "far", "near")

	delay := store.MinWriteAttempt + 200*time.Millisecond
	proxy.SetDelay(delay)
	for i := range 3 {
		sctx, cancel := context.WithTimeout(c, 20*time.Second)
		start := time.Now()
		_, err := alice.Send(sctx, "far", fmt.Sprintf("far %d", i))
		cancel()
		if err != nil {
			t.Fatalf("send %d with replies %v late: %v", i, delay, err)
		}
		if took := time.Since(start); took < delay {
			t.Fatalf("send %d took %v, less than the delay %v: the proxy did not hold the reply", i, took, delay)
		}
	}
	proxy.SetDelay(0)

	reader, err := chat.Login(c, e.st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := reader.History(c, "far", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice: near", "alice: far 0", "alice: far 1", "alice: far 2"}
	if got := texts(p); !slices.Equal(got, want) || len(p.Warnings) != 0 {
		t.Fatalf("history = %q, warnings %q; want %q", got, p.Warnings, want)
	}
}

// flowUnreadSince: Summary counts the messages from others after a
// revision, among the newest chat.UnreadScan, and says when there may be
// more; read marks go through the Service to its ReadMarks.
func flowUnreadSince(t *testing.T, e *env) {
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	if _, err := alice.CreateRoom(c, "news"); err != nil {
		t.Fatal(err)
	}
	if err := bob.RequestJoin(c, "news"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Approve(c, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	seen := mustSend(t, alice, "news", "seen")
	mustSend(t, alice, "news", "one")
	mustSend(t, bob, "news", "mine")
	last := mustSend(t, alice, "news", "two")

	sum, err := bob.Summary(c, "news", seen.Revision)
	if err != nil || sum.Unread != 2 || sum.UnreadMore || sum.Last.ID != last.ID {
		t.Fatalf("bob's summary since %d = %+v, %v; want 2 unread, last %q", seen.Revision, sum, err, last.Text)
	}
	if sum, err := bob.Summary(c, "news", 0); err != nil || sum.Unread != 0 || sum.Last.ID != last.ID {
		t.Fatalf("bob's summary counting none = %+v, %v", sum, err)
	}
	for i := range chat.UnreadScan {
		mustSend(t, alice, "news", fmt.Sprintf("flood %d", i))
	}
	sum, err = bob.Summary(c, "news", seen.Revision)
	if err != nil || sum.Unread != chat.UnreadScan || !sum.UnreadMore {
		t.Fatalf("bob's summary after a flood = %d unread, more %v, %v; want %d and more", sum.Unread, sum.UnreadMore, err, chat.UnreadScan)
	}

	marks := &testkit.ReadMarks{}
	carol, err := crypto.NewIdentity("carol")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := chat.Login(c, e.st, carol, chat.Options{ReadMarks: marks})
	if err != nil {
		t.Fatal(err)
	}
	if got := reader.ReadMark("news"); got != 0 {
		t.Fatalf("read mark before any = %d", got)
	}
	if err := reader.MarkRead("news", last.Revision); err != nil {
		t.Fatal(err)
	}
	if err := reader.MarkRead("news", seen.Revision); err != nil {
		t.Fatal(err)
	}
	if got := reader.ReadMark("news"); got != last.Revision {
		t.Fatalf("read mark = %d, want %d (a lower one does not go back)", got, last.Revision)
	}
	if got := bob.ReadMark("news"); got != 0 {
		t.Fatalf("a service without ReadMarks reports %d", got)
	}
}

// flowWatchRooms: the rooms watch signals once in place, then when a room
// or a direct room is created, and not for messages.
func flowWatchRooms(t *testing.T, e *env) {
	alice, bob := e.login("alice"), e.login("bob")
	c := ctx(t)
	wctx, cancel := context.WithCancel(c)
	ch, err := alice.WatchRooms(wctx)
	if err != nil {
		t.Fatal(err)
	}
	signal := func(want bool, what string) {
		t.Helper()
		wait := 5 * time.Second
		if !want {
			wait = 300 * time.Millisecond
		}
		select {
		case _, ok := <-ch:
			if !ok || !want {
				t.Fatalf("%s: signal (open %v), want %v", what, ok, want)
			}
		case <-time.After(wait):
			if want {
				t.Fatalf("%s: no signal", what)
			}
		}
	}
	signal(true, "watch in place")
	signal(false, "nothing changed")
	if _, err := bob.CreateRoom(c, "lobby"); err != nil {
		t.Fatal(err)
	}
	signal(true, "bob created lobby")
	if _, err := bob.DirectRoom(c, "alice"); err != nil {
		t.Fatal(err)
	}
	signal(true, "bob opened a direct room with alice")
	mustSend(t, bob, "lobby", "hello")
	signal(false, "a message")
	rooms, _, err := alice.Rooms(c)
	if err != nil || len(rooms) != 2 {
		t.Fatalf("Rooms after the signals = %v, %v", rooms, err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the rooms watch did not end with its context")
	}
}

// TestFollowPresence: snapshots of who is online, first at once, then on
// each change; a user going offline is seen to go.
func TestFollowPresence(t *testing.T) {
	e := newEnv(t, storetest.StartEmbedded(t))
	c := ctx(t)
	alice, bob := e.login("alice"), e.login("bob")
	ch := alice.FollowPresence(c)
	wait := func(want func(map[string]bool) bool) {
		t.Helper()
		for {
			select {
			case p, ok := <-ch:
				if !ok {
					t.Fatal("presence closed")
				}
				if p.Err == nil && want(p.Online) {
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no such presence snapshot")
			}
		}
	}
	wait(func(on map[string]bool) bool { return !on["bob"] })
	stop, err := bob.GoOnline(c)
	if err != nil {
		t.Fatal(err)
	}
	wait(func(on map[string]bool) bool { return on["bob"] })
	stop()
	wait(func(on map[string]bool) bool { return !on["bob"] })
}
