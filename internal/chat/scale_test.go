package chat_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// meter counts the requests a store client makes and the bytes it sends
// and receives.
type meter struct {
	calls, sent, recv atomic.Int64
}

func (m *meter) reset() { m.calls.Store(0); m.sent.Store(0); m.recv.Store(0) }

func meteredStore(t testing.TB, eps []string, m *meter) *store.Client {
	t.Helper()
	st, err := store.Open(store.Config{Endpoints: eps, DialOptions: []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			m.calls.Add(1)
			if p, ok := req.(proto.Message); ok {
				m.sent.Add(int64(proto.Size(p)))
			}
			if p, ok := reply.(proto.Message); ok {
				m.recv.Add(int64(proto.Size(p)))
			}
			return err
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// scaleRoom is a room grown to a size for measuring.
type scaleRoom struct {
	name  string
	alice *user
	ids   []*crypto.Identity // the other members
}

// growRoom creates room with alice and admits n-1 more members in
// commits of chat.MaxBatchUsers, filing their join requests directly
// (as RequestJoin would) so that building the room does not cost each
// newcomer a verification of the whole chain.
func growRoom(t *testing.T, st *store.Client, alice *chat.Service, a *user, room string, n int) *scaleRoom {
	t.Helper()
	c := context.Background()
	if _, err := alice.CreateRoom(c, names.Room(room)); err != nil {
		t.Fatal(err)
	}
	sr := &scaleRoom{name: room, alice: a}
	for start := 1; start < n; start += chat.MaxBatchUsers {
		end := min(start+chat.MaxBatchUsers, n)
		batch := make([]*crypto.Identity, end-start)
		users := make([]string, len(batch))
		var wg sync.WaitGroup
		var failed atomic.Value
		for i := range batch {
			name := fmt.Sprintf("%s-u%05d", room, start+i)
			id, err := crypto.NewIdentity(name)
			if err != nil {
				t.Fatal(err)
			}
			batch[i], users[i] = id, name
			wg.Go(func() {
				pub := id.Public()
				if _, err := st.CreateUser(c, id, store.User{Name: name, SigningKey: pub.SigningKey(), KEMKey: pub.KEMKey(), Created: time.Now().UTC()}); err != nil {
					failed.Store(err)
					return
				}
				if err := st.PutRequest(c, id, names.Room(room), store.Request{User: name, Key: pub.Fingerprint(), Created: time.Now().UTC()}); err != nil {
					failed.Store(err)
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.ApproveUsers(c, names.Room(room), users); err != nil {
			t.Fatalf("approve %d..%d: %v", start, end, err)
		}
		sr.ids = append(sr.ids, batch...)
	}
	return sr
}

// TestRoomScale builds rooms of 10, 100, 1,000 and 10,000 members on a
// stock etcd with its default limits (128 operations per transaction,
// 1.5 MiB per request) and measures what the figures ask for:
// round trips and bytes read per send, newest-50 read and approval, at
// epoch 1 and 50; time and bytes written per removal. It fails if any
// operation fails, never on a figure; the figures are logged.
func TestRoomScale(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds a room of 10,000 members")
	}
	eps := storetest.StartStock(t, storetest.StockEtcd(t))
	if os.Getenv("PARLEY_SCALE_EMBEDDED") != "" {
		eps = storetest.StartEmbedded(t)
	}
	var setupMeter meter
	st := meteredStore(t, eps, &setupMeter)
	e := &env{t: t, eps: eps, st: st}
	sizes := []int{10, 100, 1000, 10000}
	var table []string
	table = append(table, "members epoch | send(running) send(new process) | newest-50 read | approve | removal")
	for _, n := range sizes {
		a := e.person(fmt.Sprintf("alice%d", n))
		alice := e.process(a)
		room := fmt.Sprintf("scale%d", n)
		start := time.Now()
		sr := growRoom(t, st, alice, a, room, n)
		t.Logf("room of %d members built in %v", n, time.Since(start).Round(time.Millisecond))
		epochs := []int{1}
		if n <= 1000 {
			epochs = append(epochs, 50)
		}
		for _, ep := range epochs {
			for ri, _ := alice.Room(context.Background(), names.Room(room)); int(ri.Epoch) < ep; ri, _ = alice.Room(context.Background(), names.Room(room)) {
				if _, err := alice.Rotate(context.Background(), names.Room(room)); err != nil {
					t.Fatal(err)
				}
			}
			row := measureRoom(t, e, sr, n)
			table = append(table, fmt.Sprintf("%7d %5d | %s", n, ep, row))
		}
		// A removal: time and bytes written.
		var m meter
		rs := meteredStore(t, eps, &m)
		remover, err := chat.Login(context.Background(), rs, a.id, chat.Options{RoomPins: a.home, Heads: a.home})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remover.Room(context.Background(), names.Room(room)); err != nil {
			t.Fatal(err)
		}
		m.reset()
		start = time.Now()
		stats, err := remover.RemoveUsers(context.Background(), names.Room(room), []string{sr.ids[0].Name()})
		if err != nil {
			t.Fatalf("remove from %d members: %v", n, err)
		}
		took := time.Since(start)
		table[len(table)-1] += fmt.Sprintf(" | %v, %s written in %d transactions", took.Round(time.Millisecond), kb(stats.BytesWritten), stats.Transactions)
		// A leave, and the send after it rotates.
		leaver, err := chat.Login(context.Background(), st, sr.ids[1], chat.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := leaver.Leave(context.Background(), names.Room(room), chat.LeaveOptions{}); err != nil {
			t.Fatalf("leave %d members: %v", n, err)
		}
		if _, err := remover.Send(context.Background(), names.Room(room), "after the leave"); err != nil {
			t.Fatalf("send after a leave in %d members: %v", n, err)
		}
		last, err := chat.Login(context.Background(), st, sr.ids[len(sr.ids)-1], chat.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := last.History(context.Background(), names.Room(room), 50)
		if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].Text != "after the leave" {
			t.Fatalf("the newest member reads %d members: %v", n, err)
		}
	}
	t.Logf("figures (round trips, bytes received):\n%s", strings.Join(table, "\n"))
}

// measureRoom measures a send in a running client, a send by a new
// process of a home that pinned the room, a newest-50 read by such a
// process, and an approval.
func measureRoom(t *testing.T, e *env, sr *scaleRoom, n int) string {
	t.Helper()
	c := context.Background()
	var m meter
	st := meteredStore(t, e.eps, &m)
	login := func() *chat.Service {
		s, err := chat.Login(c, st, sr.alice.id, chat.Options{RoomPins: sr.alice.home, Heads: sr.alice.home, Claimed: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	running := login()
	if _, err := running.Send(c, names.Room(sr.name), "warm up"); err != nil {
		t.Fatal(err)
	}
	m.reset()
	if _, err := running.Send(c, names.Room(sr.name), "measured"); err != nil {
		t.Fatal(err)
	}
	sendRun := fmt.Sprintf("%d rt %s", m.calls.Load(), kb(int(m.recv.Load())))
	one := login()
	m.reset()
	if _, err := one.Send(c, names.Room(sr.name), "one-shot"); err != nil {
		t.Fatal(err)
	}
	sendNew := fmt.Sprintf("%d rt %s", m.calls.Load(), kb(int(m.recv.Load())))
	reader := login()
	m.reset()
	if p, err := reader.History(c, names.Room(sr.name), 50); err != nil || len(p.Messages) == 0 {
		t.Fatalf("read: %v", err)
	}
	read := fmt.Sprintf("%d rt %s", m.calls.Load(), kb(int(m.recv.Load())))
	// One more member asks; a new process of alice's home approves.
	id, _ := crypto.NewIdentity(fmt.Sprintf("%s-new%d", sr.name, len(sr.ids)))
	pub := id.Public()
	if _, err := e.st.CreateUser(c, id, store.User{Name: id.Name(), SigningKey: pub.SigningKey(), KEMKey: pub.KEMKey(), Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutRequest(c, id, names.Room(sr.name), store.Request{User: id.Name(), Key: pub.Fingerprint(), Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	approver := login()
	m.reset()
	if err := approver.Approve(c, names.Room(sr.name), id.Name()); err != nil {
		t.Fatal(err)
	}
	approve := fmt.Sprintf("%d rt %s", m.calls.Load(), kb(int(m.recv.Load())))
	sr.ids = append(sr.ids, id)
	return fmt.Sprintf("%s, %s | %s | %s", sendRun, sendNew, read, approve)
}

func kb(n int) string {
	if n < 10*1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
