package chat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
)

// StreamOptions tune StreamForward. The zero value streams the whole
// history and reports no progress.
type StreamOptions struct {
	// Limit, if positive, streams only the newest Limit messages, chosen
	// as History chooses them: by the order every reader shows, and not
	// counting messages dated far ahead of this machine's clock.
	Limit int
	// Progress, if not nil, is called after each round trip to the
	// cluster, so the caller can bound the time between two of them
	// rather than the whole stream, which takes as long as the history is
	// long. It is called on the caller's goroutine, never during each.
	Progress func()
}

// indexKeys is how many message ids one request of the index reads: about
// 80 bytes each, a few hundred kilobytes a request.
const indexKeys = 10000

// maxHeld bounds the messages StreamForward holds back to show them in the
// order every reader shows (revision order) rather than in key order. It
// holds only messages that a later page may precede: those of senders
// whose clocks run ahead of the others', or, at worst, all of them behind
// an old message dated in the future. Past the bound, the oldest held
// messages are shown anyway: memory wins over order.
const maxHeld = 4 * pageSize

// StreamForward reads a room's history (or its newest opts.Limit messages)
// oldest first, page by page, verified and decrypted, calling each with
// every page as soon as it can be shown, in the order History shows the
// messages: the first lines show at once, memory stays bounded by a few
// pages, and each page is its own round trip, so a long history is never
// taken for an unavailable cluster.
//
// First it indexes the history: it reads the message ids and revisions
// only, newest first (one request per 10,000 messages), to find the pages
// and, with a limit, the oldest message shown. Then it reads the pages
// oldest first at the index's revision.
//
// The checks History makes of the whole history are made as the messages
// pass, keeping about 40 bytes per message (for the causal order check);
// the Page returned holds no messages, only the warnings, the revision to
// follow from, whether older messages exist (More) and rejected records.
func (s *Service) StreamForward(ctx context.Context, room names.Room, opts StreamOptions, each func(*Page) error) (*Page, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func() {}
	}
	name := string(room)
	v, err := s.loadView(ctx, name)
	if err != nil {
		return nil, err
	}
	progress()
	if v.Members[s.me.Name()] == nil {
		return nil, fmt.Errorf("read %q: %w", name, ErrNotMember)
	}
	out := &Page{Room: name, Rejected: v.rejected}
	if v.fault != nil {
		out.Warnings = append(out.Warnings, v.fault.Error())
	}
	now := s.now()
	ix, err := s.indexHistory(ctx, name, opts.Limit, now, progress)
	if err != nil {
		return nil, err
	}
	out.Revision, out.More = ix.rev, ix.more
	out.Stale = ix.stale

	ctx, cancel := context.WithCancel(ctx)
	type fetched struct {
		page store.MessagePage
		err  error
	}
	pages := make(chan fetched, 1) // the next page is read while this one is verified
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		defer close(pages)
		for i := len(ix.spans) - 1; i >= 0; i-- {
			sp := ix.spans[i]
			p, err := s.st.Messages(ctx, names.Room(name), sp.after, sp.n, ix.rev)
			select {
			case pages <- fetched{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})

	// floor[i]: the lowest revision in the pages newer than span i, which
	// are read after it. A message of span i at or above it may have to
	// follow one of theirs.
	floor := make([]int64, len(ix.spans))
	low := int64(math.MaxInt64)
	for i, sp := range ix.spans {
		floor[i] = low
		low = min(low, sp.minRev)
	}

	checks := newSeqChecker()
	checks.disappear, checks.now = time.Duration(v.Disappear)*time.Second, s.now()
	order := newOrderTracker()
	var futures []string
	var held []Message
	emit := func(k int) error {
		if k == 0 {
			return nil
		}
		batch := slices.Clone(held[:k])
		held = slices.Delete(held, 0, k)
		s.saw(name, batch)
		for _, m := range batch {
			checks.add(m)
			order.add(m)
			if m.future {
				futures = append(futures, futureWarning(m))
			}
		}
		return each(&Page{Room: name, Messages: batch, Revision: ix.rev, Stale: out.Stale})
	}
	span := len(ix.spans)
	for f := range pages {
		if f.err != nil {
			return nil, f.err
		}
		progress()
		span--
		out.Stale = out.Stale || f.page.Stale
		batch, err := s.verifyAll(ctx, v, f.page.Messages)
		if err != nil {
			return nil, err
		}
		if v, err = s.reverify(ctx, v, ix.rev, f.page.Messages, batch, progress); err != nil {
			return nil, err
		}
		s.noteEvidence(name, batch)
		for _, m := range batch {
			m.future = datedAhead(m.Time, now)
			if ix.hasCut && store.MessageOrder(m.Revision, ix.cut.CreateRevision, m.ID, ix.cut.ID) < 0 {
				continue // older than the newest Limit
			}
			held = append(held, m)
		}
		slices.SortFunc(held, func(a, b Message) int { return store.MessageOrder(a.Revision, b.Revision, a.ID, b.ID) })
		k, _ := slices.BinarySearchFunc(held, floor[span], func(m Message, rev int64) int {
			if m.Revision < rev {
				return -1
			}
			return 1
		})
		k = max(k, len(held)-maxHeld)
		if err := emit(k); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %q: %w", name, err) // the reader stopped without a word
	}
	if err := emit(len(held)); err != nil {
		return nil, err
	}
	out.Warnings = append(out.Warnings, checks.warnings(!ix.more)...)
	out.Warnings = append(out.Warnings, futures...)
	out.Warnings = append(out.Warnings, order.warnings()...)
	if err := s.forkedErr(name); err != nil {
		out.Warnings = append(out.Warnings, err.Error()+"; nothing is sent into this room")
	}
	return out, nil
}

// reverify verifies again, with the room's newest state, the messages of
// batch rejected for want of a state newer than v (members approved after
// v was read may have sent them), and returns the view to go on with.
// raws and batch are in the same order.
func (s *Service) reverify(ctx context.Context, v *roomView, rev int64, raws []store.RawMessage, batch []Message, progress func()) (*roomView, error) {
	if v.revision >= rev {
		return v, nil
	}
	var idx []int
	for i, m := range batch {
		if m.needsView {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return v, nil
	}
	nv, err := s.loadView(ctx, v.Name)
	if err != nil {
		return nil, err
	}
	progress()
	again := make([]store.RawMessage, len(idx))
	for j, i := range idx {
		again[j] = raws[i]
	}
	ms, err := s.verifyAll(ctx, nv, again)
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		batch[i] = ms[j]
	}
	return nv, nil
}

// historySpan is one page of the history as the index found it.
type historySpan struct {
	after  string // the page starts after this id ("": at the newest)
	n      int    // how many messages it holds
	minRev int64  // the lowest revision among them
}

// historyIndex is what StreamForward reads first: the pages, newest first,
// at one revision.
type historyIndex struct {
	rev   int64
	stale bool // read from a member's own copy, with no quorum
	spans []historySpan
	more  bool // older messages exist than the index covers (a limit)
	// cut, with a limit, is the oldest message shown: none before it in
	// the order every reader shows.
	cut    store.MessageKey
	hasCut bool
}

// indexHistory reads the ids and revisions of the messages of room, newest
// first, at one revision: all of them, or, with a limit, as many as
// History would read (up to the limit-th not dated ahead of now).
func (s *Service) indexHistory(ctx context.Context, name string, limit int, now time.Time, progress func()) (*historyIndex, error) {
	ix := &historyIndex{}
	var seen []store.MessageKey // with a limit: every id indexed
	counted := 0
	cursor := ""
	for {
		n := indexKeys
		if limit > 0 {
			n = min(n, max(limit-counted, 1))
		}
		page, err := s.st.MessageKeys(ctx, names.Room(name), cursor, n, ix.rev)
		if err != nil {
			return nil, err
		}
		progress()
		ix.rev = page.Revision
		ix.stale = ix.stale || page.Stale
		for i, k := range page.Keys {
			if len(ix.spans) == 0 || ix.spans[len(ix.spans)-1].n == pageSize {
				ix.spans = append(ix.spans, historySpan{after: cursor, minRev: k.CreateRevision})
			}
			sp := &ix.spans[len(ix.spans)-1]
			sp.n++
			sp.minRev = min(sp.minRev, k.CreateRevision)
			cursor = k.ID
			if limit <= 0 {
				continue
			}
			seen = append(seen, k)
			if !idDatedAhead(k.ID, now) {
				counted++
			}
			if counted == limit {
				ix.more = i < len(page.Keys)-1 || page.More
				ix.cut, ix.hasCut = newestCut(seen, limit, now), true
				return ix, nil
			}
		}
		if !page.More || len(page.Keys) == 0 {
			return ix, nil
		}
	}
}

// newestCut returns the oldest of the newest limit keys by revision order,
// not counting those dated ahead of now; keys holds at least limit such.
func newestCut(keys []store.MessageKey, limit int, now time.Time) store.MessageKey {
	slices.SortFunc(keys, func(a, b store.MessageKey) int {
		return store.MessageOrder(a.CreateRevision, b.CreateRevision, a.ID, b.ID)
	})
	n := 0
	for i := len(keys) - 1; i >= 0; i-- {
		if idDatedAhead(keys[i].ID, now) {
			continue
		}
		if n++; n == limit {
			return keys[i]
		}
	}
	return keys[0]
}

// idDatedAhead judges a message by the time in its id, which its verified
// time may differ from by maxIDSkew at most.
func idDatedAhead(id string, now time.Time) bool {
	mid, err := crypto.ParseMessageID(id)
	return err == nil && datedAhead(mid.Time(), now)
}
