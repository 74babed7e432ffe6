package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/storetest"
)

// Size is not an outage: a long history and a long room list take the time
// they take, and --timeout bounds each round trip to the cluster. These
// tests write the sizes the Hardening issue reported with real records, and
// log their times.

// parallel runs fn(i) for i in [0, n) on workers goroutines.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// lineWriter counts the lines written to it and when the first came.
type lineWriter struct {
	start time.Time
	first time.Duration
	lines int
	last  []byte
	each  func(line []byte) // if set, sees every line
	part  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	if w.lines == 0 && w.first == 0 {
		w.first = time.Since(w.start)
	}
	w.part = append(w.part, b...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.lines++
		w.last = append(w.last[:0], w.part[:i]...)
		if w.each != nil {
			w.each(w.part[:i])
		}
		w.part = w.part[i+1:]
	}
	return len(b), nil
}

// heapPeak samples the heap until stop is called, which returns how far
// above its level at the start it went. Meanwhile the collector runs often
// (GOGC=10), so the heap follows what is live rather than the garbage.
func heapPeak() (stop func() uint64) {
	gc := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
					peak.Store(ms.HeapAlloc - base)
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		debug.SetGCPercent(gc)
		return peak.Load()
	}
}

// TestReadLongHistoryStreams: parley read --limit 0 of a room of 200,000
// messages, which took longer than the whole-command timeout, prints it
// all with a --timeout of 5s, the first line at once, in the order every
// reader shows, and in memory that does not hold the history; --json
// stays one object per line.
func TestReadLongHistoryStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: writes 200,000 messages")
	}
	const total = 200000
	eps := storetest.StartEmbedded(t)
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := crypto.NewIdentity("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := chat.Login(ctx, st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, ctx, env, nil, "--user", "bob", "join", "big"); code != 0 {
		t.Fatalf("join: exit %d: %s", code, stderr)
	}
	if err := alice.Approve(ctx, "big", "bob"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	parallel(t, total-1, 32, func(i int) error {
		_, err := alice.Send(ctx, "big", fmt.Sprintf("message %06d", i))
		return err
	})
	newest, err := alice.Send(ctx, "big", "the newest message")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d messages with 32 concurrent sends in %v", total, time.Since(start).Round(time.Millisecond))

	out := &lineWriter{start: time.Now()}
	peak := heapPeak()
	code, stderr := run(t, ctx, env, out, "--user", "bob", "--timeout", "5s", "read", "big", "--limit", "0")
	took := time.Since(out.start)
	grew := peak()
	t.Logf("parley --timeout 5s read --limit 0 of %d messages: %v in all, first line after %v, heap at most %d MB above its level before",
		total, took.Round(time.Millisecond), out.first.Round(time.Millisecond), grew>>20)
	if code != 0 {
		t.Fatalf("read: exit %d after %v: %s", code, took, stderr)
	}
	if out.lines != total || !bytes.HasSuffix(out.last, []byte("alice: the newest message")) {
		t.Fatalf("read printed %d lines ending %q, want %d ending with the newest message", out.lines, out.last, total)
	}
	if stderr != "" && !strings.Contains(stderr, "not encrypted") {
		t.Fatalf("read warned: %s", stderr)
	}
	if out.first > took/4 {
		t.Fatalf("the first line came after %v of %v: the history was not streamed", out.first, took)
	}
	// Held whole, the history costs several hundred bytes a message: read
	// with History it peaks above 100 MB here. Streamed, the reader holds a
	// few pages and the order check's set of ids (about 25 MB here).
	if grew > 64<<20 {
		t.Fatalf("the heap grew by %d MB while reading: the history was held", grew>>20)
	}

	// --json: one object per line, in revision order, ending at the newest.
	var lastRev int64
	var bad error
	js := &lineWriter{start: time.Now(), each: func(line []byte) {
		var m struct {
			ID       string `json:"id"`
			Revision int64  `json:"revision"`
			Text     string `json:"text"`
		}
		if err := json.Unmarshal(line, &m); err != nil && bad == nil {
			bad = fmt.Errorf("line is not JSON: %v: %q", err, line)
		}
		if m.Revision < lastRev && bad == nil {
			bad = fmt.Errorf("revision %d after %d: not in the order every reader shows", m.Revision, lastRev)
		}
		lastRev = m.Revision
	}}
	code, stderr = run(t, ctx, env, js, "--user", "bob", "--timeout", "5s", "read", "big", "--json")
	t.Logf("parley --timeout 5s read --json again (signatures remembered): %v", time.Since(js.start).Round(time.Millisecond))
	if code != 0 || bad != nil {
		t.Fatalf("read --json: exit %d: %v %s", code, bad, stderr)
	}
	if js.lines != total || !bytes.Contains(js.last, []byte(`"id":"`+newest.ID+`"`)) {
		t.Fatalf("read --json printed %d lines ending %q, want %d ending with %s", js.lines, js.last, total, newest.ID)
	}
}

// TestRoomsLongList: parley rooms lists 10,000 rooms within a 5s
// --timeout, saying how far it got on stderr, as the member of all of them
// whose home has verified none (a new device: every chain is verified)
// and as a user in none of them.
func TestRoomsLongList(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: creates 10,000 rooms")
	}
	const total = 10000
	eps := storetest.StartEmbedded(t)
	home := t.TempDir()
	env := map[string]string{"PARLEY_ENDPOINTS": eps[0], "PARLEY_HOME": home}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if code, stderr := run(t, ctx, env, nil, "--user", "alice", "whoami"); code != 0 {
		t.Fatalf("whoami: exit %d: %s", code, stderr)
	}
	// Alice creates the rooms from another device: same keys, no pins.
	data, err := os.ReadFile(filepath.Join(home, "users", "alice", "keystore"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.UnmarshalKeystore(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	device, err := chat.Login(ctx, st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	parallel(t, total, 16, func(i int) error {
		_, err := device.CreateRoom(ctx, names.Room(fmt.Sprintf("room-%05d", i)))
		return err
	})
	t.Logf("created %d rooms with 16 concurrent creates in %v", total, time.Since(start).Round(time.Millisecond))

	for _, tc := range []struct {
		user, what string
		json       bool
	}{
		{"alice", "member of all, none verified in this home", false},
		{"alice", "member of all, all verified in this home", false},
		{"bob", "member of none", true},
	} {
		var out bytes.Buffer
		args := []string{"--user", tc.user, "--timeout", "5s", "rooms"}
		if tc.json {
			args = append(args, "--json")
		}
		start := time.Now()
		code, stderr := run(t, ctx, env, &out, args...)
		t.Logf("parley --timeout 5s rooms as %s (%s): %v", tc.user, tc.what, time.Since(start).Round(time.Millisecond))
		if code != 0 {
			t.Fatalf("rooms as %s: exit %d: %s", tc.user, code, stderr)
		}
		for n := 1000; n <= total; n += 1000 {
			if !strings.Contains(stderr, fmt.Sprintf("parley: reading rooms: %d...\n", n)) {
				t.Fatalf("rooms as %s: no progress at %d on stderr:\n%s", tc.user, n, stderr)
			}
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if tc.json {
			member := 0
			for _, l := range lines {
				var r chat.RoomInfo
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("rooms --json line %q: %v", l, err)
				}
				if r.Member {
					member++
				}
			}
			if len(lines) != total || member != 0 {
				t.Fatalf("rooms --json as %s: %d rooms, %d as a member; want %d, 0", tc.user, len(lines), member, total)
			}
			continue
		}
		if len(lines) != total+1 || lines[0] != fmt.Sprintf("There are %d rooms:", total) || !strings.Contains(lines[total], "room-09999 (1 member, member)") {
			t.Fatalf("rooms as %s: %d lines, first %q, last %q", tc.user, len(lines), lines[0], lines[len(lines)-1])
		}
	}
}

// stallProxy forwards TCP connections to an etcd endpoint until it is
// frozen: then it forwards nothing more, and keeps the connections open,
// as a cluster that stopped answering.
type stallProxy struct {
	ln     net.Listener
	target string
	frozen chan struct{} // closed by freeze
	once   sync.Once
}

func newStallProxy(t *testing.T, endpoint string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: strings.TrimPrefix(endpoint, "http://"), frozen: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { p.pipe(up, c) })
			wg.Go(func() { p.pipe(c, up) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *stallProxy) endpoint() string { return "http://" + p.ln.Addr().String() }

func (p *stallProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
			return // hold the connection, forward nothing
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestReadStalledClusterFails: the other side of the per-round-trip
// timeout. A cluster that stops answering in the middle of a long read
// fails it within about --timeout of its last answer, as unavailable
// (exit 3), after the pages it had printed.
func TestReadStalledClusterFails(t *testing.T) {
	eps := storetest.StartEmbedded(t)
	proxy := newStallProxy(t, eps[0])
	env := map[string]string{"PARLEY_ENDPOINTS": proxy.endpoint(), "PARLEY_HOME": t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := store.Open(store.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := crypto.NewIdentity("alice")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := chat.Login(ctx, st, id, chat.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if code, stderr := run(t, ctx, env, nil, "--user", "bob", "join", "big"); code != 0 {
		t.Fatalf("join: exit %d: %s", code, stderr)
	}
	if err := alice.Approve(ctx, "big", "bob"); err != nil {
		t.Fatal(err)
	}
	parallel(t, 12000, 16, func(i int) error { // six pages
		_, err := alice.Send(ctx, "big", fmt.Sprintf("message %05d", i))
		return err
	})

	// The cluster stops answering once the first page is printed.
	out := &lineWriter{start: time.Now(), each: func([]byte) { proxy.freeze() }}
	code, stderr := run(t, ctx, env, out, "--user", "bob", "--timeout", "1s", "read", "big")
	took := time.Since(out.start)
	t.Logf("read of a cluster that stopped answering after %d lines: exit %d after %v", out.lines, code, took.Round(time.Millisecond))
	if code != 3 || !strings.Contains(stderr, "parley: error: read big: no answer from the cluster for 1s: etcd cluster unavailable") {
		t.Fatalf("read: exit %d, stderr %q; want 3 and the stall", code, stderr)
	}
	if out.lines == 0 || out.lines >= 12000 {
		t.Fatalf("printed %d lines before failing", out.lines)
	}
	if took > 20*time.Second {
		t.Fatalf("a stalled read took %v to fail with a 1s timeout", took)
	}
}
