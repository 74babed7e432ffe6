// Package bench measures Parley against the etcd cluster beneath it, in one
// run: raw etcd puts next to chat sends (interleaved, so machine noise hits
// both), put-to-watch latency next to end-to-end delivery, and the time to
// open and to read a long history. It drives the chat API like any front
// end; it knows etcd only through the store's benchmark helpers.
package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// Config sizes a run. Zero fields take the defaults in parentheses.
type Config struct {
	Messages    int   // sends (and raw puts) per concurrency level (8000)
	History     int   // messages in the history room (100000)
	Concurrency []int // concurrency levels ({1, 16})
	TextBytes   int   // message text size (200)
	Rounds      int   // interleaved raw/send rounds per level (8)
	Latency     int   // sequential messages for end-to-end latency (300)
	// Progress, if not nil, receives one line per step.
	Progress func(format string, args ...any)
	// ReadHistory reads the history room in a separate client process and
	// reports what it measured; nil reads in this process.
	ReadHistory func(ctx context.Context, room names.Room) (HistoryResult, error)
}

func (c *Config) defaults() {
	if c.Messages <= 0 {
		c.Messages = 8000
	}
	if c.History < 0 {
		c.History = 0
	} else if c.History == 0 {
		c.History = 100000
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = []int{1, 16}
	}
	if c.TextBytes <= 0 {
		c.TextBytes = 200
	}
	if c.Rounds <= 0 {
		c.Rounds = 8
	}
	if c.Latency <= 0 {
		c.Latency = 300
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
}

// RunResult compares raw puts and sends at one concurrency.
type RunResult struct {
	Concurrency int     `json:"concurrency"`
	PutPerS     float64 `json:"put_per_s"`
	SendPerS    float64 `json:"send_per_s"`
	Ratio       float64 `json:"ratio"`
	PutP50Ms    float64 `json:"put_p50_ms"`
	PutP99Ms    float64 `json:"put_p99_ms"`
	SendP50Ms   float64 `json:"send_p50_ms"`
	SendP99Ms   float64 `json:"send_p99_ms"`
}

// HistoryResult is what the reading client measured.
type HistoryResult struct {
	Messages    int     `json:"history_messages"`
	LastPageMs  float64 `json:"last_page_ms"`
	HistoryPerS float64 `json:"history_per_s"`
	ReopenPerS  float64 `json:"reopen_per_s"`
	RSSMB       float64 `json:"rss_mb"`
	Rejected    int     `json:"rejected"`
}

// Result is one whole run.
type Result struct {
	Runs       []RunResult `json:"runs"`
	WatchP50Ms float64     `json:"watch_p50_ms"`
	WatchP99Ms float64     `json:"watch_p99_ms"`
	E2EP50Ms   float64     `json:"e2e_p50_ms"`
	E2EP99Ms   float64     `json:"e2e_p99_ms"`
	HistoryResult
	VerifyLimitPerS       float64  `json:"verify_limit_per_s"`
	EnvelopeOverheadBytes int      `json:"envelope_overhead_bytes"`
	EnvelopeBytes         int      `json:"envelope_bytes"`
	Cores                 int      `json:"cores"`
	Endpoints             []string `json:"endpoints"`
}

// Users are the two logged-in clients a run uses: the sender and a reader
// on its own connection, each with the store client it logged in on, on
// which raw etcd is measured beside it. The reader must not yet be a
// member of anything.
type Users struct {
	Sender, Reader           *chat.Service
	SenderStore, ReaderStore *store.Client
}

// Run performs a whole benchmark run.
func Run(ctx context.Context, u Users, cfg Config) (*Result, error) {
	cfg.defaults()
	st := u.SenderStore
	tag := randTag()
	res := &Result{Cores: runtime.GOMAXPROCS(0), Endpoints: st.Endpoints()}
	text := strings.Repeat("x", cfg.TextBytes)

	// Everything the run writes goes when it ends, however it ends (an
	// interrupt included): its rooms, with their messages, and its raw
	// keys. Rooms left behind would shift every user's room numbers.
	var rooms []names.Room
	defer func() { cleanup(ctx, cfg, st, tag, rooms) }()

	room := names.Room("bench-" + tag) // canonical: a fixed prefix and a hex tag
	rooms = append(rooms, room)
	if _, err := u.Sender.CreateRoom(ctx, room); err != nil {
		return nil, err
	}
	if err := join(ctx, u, room); err != nil {
		return nil, err
	}
	// Size the raw values like real envelopes.
	m, err := u.Sender.Send(ctx, room, text)
	if err != nil {
		return nil, err
	}
	res.EnvelopeOverheadBytes = crypto.EnvelopeOverhead + len(u.Sender.Me())
	res.EnvelopeBytes = res.EnvelopeOverheadBytes + cfg.TextBytes
	_ = m
	value := make([]byte, res.EnvelopeBytes)
	rand.Read(value)

	for _, c := range cfg.Concurrency {
		r, err := throughput(ctx, cfg, c, tag, value, func(ctx context.Context) error {
			_, err := u.Sender.Send(ctx, room, text)
			return err
		}, st)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, r)
	}

	cfg.Progress("latency: %d raw puts and %d sends, one at a time", cfg.Latency, cfg.Latency)
	if err := latency(ctx, cfg, u, room, tag, value, text, res); err != nil {
		return nil, err
	}

	res.VerifyLimitPerS = verifyLimit(time.Second)
	if cfg.History > 0 {
		hroom := names.Room("history-" + tag)
		rooms = append(rooms, hroom)
		if _, err := u.Sender.CreateRoom(ctx, hroom); err != nil {
			return nil, err
		}
		if err := join(ctx, u, hroom); err != nil {
			return nil, err
		}
		if err := fill(ctx, cfg, u.Sender, hroom, text); err != nil {
			return nil, err
		}
		read := cfg.ReadHistory
		if read == nil {
			read = func(ctx context.Context, room names.Room) (HistoryResult, error) {
				return ReadHistory(ctx, u.Reader, room, nil)
			}
		}
		cfg.Progress("history: reading %d messages in a fresh client", cfg.History)
		h, err := read(ctx, hroom)
		if err != nil {
			return nil, err
		}
		res.HistoryResult = h
	}
	return res, nil
}

// CleanupTimeout bounds the removal of what a run wrote, which goes on
// after the run's own context has ended.
const CleanupTimeout = 30 * time.Second

// cleanup deletes the rooms and raw keys of the run tag, with a context
// of its own.
func cleanup(ctx context.Context, cfg Config, st *store.Client, tag string, rooms []names.Room) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	err := errors.Join(
		st.Purge(ctx, rooms, nil),
		st.BenchCleanup(ctx, tag),
		st.BenchCleanup(ctx, tag+"-watch"),
	)
	if err != nil {
		cfg.Progress("could not remove the benchmark's rooms %v and raw keys: %v", rooms, err)
		return
	}
	cfg.Progress("removed the benchmark's rooms %v and raw keys", rooms)
}

func join(ctx context.Context, u Users, room names.Room) error {
	if err := u.Reader.RequestJoin(ctx, room); err != nil {
		return err
	}
	return u.Sender.Approve(ctx, room, u.Reader.Me())
}

// throughput measures raw puts and sends at concurrency c, alternating
// rounds of each (and which goes first) so both see the same machine.
func throughput(ctx context.Context, cfg Config, c int, tag string, value []byte, send func(context.Context) error, st *store.Client) (RunResult, error) {
	per := max(cfg.Messages/cfg.Rounds, c)
	var putLat, sendLat []time.Duration
	var putTime, sendTime time.Duration
	var seq atomic.Int64
	put := func(ctx context.Context) error {
		return st.BenchPut(ctx, tag, int(seq.Add(1)), value)
	}
	for round := range cfg.Rounds {
		cfg.Progress("concurrency %d: round %d of %d (%d puts, %d sends)", c, round+1, cfg.Rounds, per, per)
		order := []bool{true, false}
		if round%2 == 1 {
			order = []bool{false, true}
		}
		for _, raw := range order {
			fn, lat, total := send, &sendLat, &sendTime
			if raw {
				fn, lat, total = put, &putLat, &putTime
			}
			l, d, err := load(ctx, c, per, fn)
			if err != nil {
				return RunResult{}, err
			}
			*lat = append(*lat, l...)
			*total += d
		}
	}
	n := float64(per * cfg.Rounds)
	r := RunResult{
		Concurrency: c,
		PutPerS:     n / putTime.Seconds(),
		SendPerS:    n / sendTime.Seconds(),
		PutP50Ms:    pct(putLat, 50), PutP99Ms: pct(putLat, 99),
		SendP50Ms: pct(sendLat, 50), SendP99Ms: pct(sendLat, 99),
	}
	r.Ratio = r.SendPerS / r.PutPerS
	return r, nil
}

// load runs n calls of fn on c workers and returns each call's latency and
// the wall time.
func load(ctx context.Context, c, n int, fn func(context.Context) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(ctx); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

func latency(ctx context.Context, cfg Config, u Users, room names.Room, tag string, value []byte, text string, res *Result) error {
	st, rst := u.SenderStore, u.ReaderStore
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got, err := rst.BenchWatch(wctx, tag+"-watch")
	if err != nil {
		return err
	}
	p, err := u.Reader.History(ctx, room, 1)
	if err != nil {
		return err
	}
	events, err := u.Reader.Subscribe(wctx, room, p.Revision+1)
	if err != nil {
		return err
	}
	var watchLat, e2eLat []time.Duration
	for i := range cfg.Latency {
		t := time.Now()
		if err := st.BenchPut(ctx, tag+"-watch", i, value); err != nil {
			return err
		}
		select {
		case at := <-got:
			watchLat = append(watchLat, at.Sub(t))
		case <-time.After(10 * time.Second):
			return fmt.Errorf("raw watch event %d did not arrive", i)
		}
		t = time.Now()
		m, err := u.Sender.Send(ctx, room, text)
		if err != nil {
			return err
		}
		for done := false; !done; {
			select {
			case ev, ok := <-events:
				if !ok {
					return fmt.Errorf("subscription ended")
				}
				if ev.Kind == chat.EventMessage && ev.Message.ID == m.ID {
					if ev.Message.Rejected != "" {
						return fmt.Errorf("own message rejected: %s", ev.Message.Rejected)
					}
					e2eLat = append(e2eLat, time.Since(t))
					done = true
				}
			case <-time.After(10 * time.Second):
				return fmt.Errorf("message %d was not delivered", i)
			}
		}
	}
	st.BenchCleanup(ctx, tag+"-watch")
	res.WatchP50Ms, res.WatchP99Ms = pct(watchLat, 50), pct(watchLat, 99)
	res.E2EP50Ms, res.E2EP99Ms = pct(e2eLat, 50), pct(e2eLat, 99)
	return nil
}

// fill writes cfg.History messages into room as fast as the cluster takes
// them.
func fill(ctx context.Context, cfg Config, s *chat.Service, room names.Room, text string) error {
	const workers = 32
	var done atomic.Int64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				cfg.Progress("history: %d of %d messages written", done.Load(), cfg.History)
			}
		}
	}()
	defer close(stop)
	cfg.Progress("history: writing %d messages", cfg.History)
	_, _, err := load(ctx, workers, cfg.History, func(ctx context.Context) error {
		_, err := s.Send(ctx, room, text)
		done.Add(1)
		return err
	})
	return err
}

// ReadHistory opens room in reader as a user would: the newest 50
// messages first, then the whole history, verified and decrypted; then,
// if reopen is not nil, it reads the whole history again in a fresh client
// from reopen (which shares the reader's on-disk verification memory).
func ReadHistory(ctx context.Context, reader *chat.Service, room names.Room, reopen func(context.Context) (*chat.Service, error)) (HistoryResult, error) {
	var h HistoryResult
	t := time.Now()
	p, err := reader.History(ctx, room, 50)
	if err != nil {
		return h, err
	}
	h.LastPageMs = ms(time.Since(t))
	if len(p.Messages) == 0 {
		return h, fmt.Errorf("room %q is empty", room)
	}
	t = time.Now()
	p, err = reader.History(ctx, room, 0)
	if err != nil {
		return h, err
	}
	d := time.Since(t)
	h.Messages = len(p.Messages)
	h.HistoryPerS = float64(len(p.Messages)) / d.Seconds()
	for _, m := range p.Messages {
		if m.Rejected != "" {
			h.Rejected++
		}
	}
	p = nil
	if reopen != nil {
		again, err := reopen(ctx)
		if err != nil {
			return h, err
		}
		t = time.Now()
		p, err := again.History(ctx, room, 0)
		if err != nil {
			return h, err
		}
		h.ReopenPerS = float64(len(p.Messages)) / time.Since(t).Seconds()
	}
	h.RSSMB = peakRSSMB()
	return h, nil
}

// verifyLimit measures Ed25519 verifications per second on every core.
func verifyLimit(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	var total atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			n := int64(0)
			for time.Now().Before(deadline) {
				for range 16 {
					ed25519.Verify(pub, msg, sig)
				}
				n += 16
			}
			total.Add(n)
		})
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return ms(s[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func randTag() string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}
