package store

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parley-chat/parley/internal/names"
)

// ChainRead is what one read of a room's chain returns, at one revision.
// Records are decoded but not verified: package chat decides which count.
type ChainRead struct {
	Name     string
	Room     *Signed[Room] // nil if the room record does not exist
	Revision int64         // etcd revision of the read
	// Pinned is the commit at the number the caller asked to see again
	// (nil if absent or not asked for).
	Pinned *Signed[Commit]
	// Commits are the commits from the first number asked for, ascending,
	// as many as the limit allowed; More says whether others follow.
	Commits []*Signed[Commit]
	More    bool
	// Requests are the pending join requests.
	Requests []*Signed[Request]
	Bad      []BadRecord
	// Stale reports that the cluster had no quorum and this is one
	// member's own copy, which may be behind (see stale.go).
	Stale bool
}

// maxChainPage is the most commits one read returns.
const maxChainPage = 256

// maxRequestsRead is the most join requests one read returns.
const maxRequestsRead = 1000

// RoomChain reads a room's record, the commit numbered pin (0: none), the
// commits numbered from on (up to limit, at most 256) and the pending join
// requests, in one transaction: one round trip that reads O(limit) records
// however many members or epochs the room has.
func (c *Client) RoomChain(ctx context.Context, room names.Room, pin, from uint64, limit int) (*ChainRead, error) {
	if from == 0 {
		from = 1
	}
	if limit <= 0 || limit > maxChainPage {
		limit = maxChainPage
	}
	ops := []clientv3.Op{
		clientv3.OpGet(roomKey(room)),
		clientv3.OpGet(commitKey(room, from), clientv3.WithRange(clientv3.GetPrefixRangeEnd(commitPrefix(room))), clientv3.WithLimit(int64(limit))),
		clientv3.OpGet(requestPrefix(room), clientv3.WithPrefix(), clientv3.WithLimit(maxRequestsRead)),
	}
	if pin > 0 {
		ops = append(ops, clientv3.OpGet(commitKey(room, pin)))
	}
	resp, stale, err := c.txnOrStale(ctx, ops) // stale.go: a member's own copy while there is no quorum
	if err != nil {
		return nil, fmt.Errorf("read room %q: %w", room, mapErr(err))
	}
	cr := &ChainRead{Name: string(room), Revision: resp.Header.Revision, Stale: stale}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		kv := kvs[0]
		r, err := decodeRoom(string(kv.Key), string(room), kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			cr.Bad = append(cr.Bad, BadRecord{Key: string(kv.Key), Revision: kv.ModRevision, Err: err})
		} else {
			cr.Room = r
		}
	}
	cp := commitPrefix(room)
	rng := resp.Responses[1].GetResponseRange()
	cr.More = rng.More
	for _, kv := range rng.Kvs {
		key := string(kv.Key)
		n, err := parseCommitKey(strings.TrimPrefix(key, cp))
		if err != nil {
			cr.Bad = append(cr.Bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
			continue
		}
		r, err := decodeCommit(key, string(room), n, kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			cr.Bad = append(cr.Bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: err})
			// A malformed commit still takes its place in the chain: the
			// chain stops there.
			cr.Commits = append(cr.Commits, &Signed[Commit]{Body: Commit{Room: string(room), N: n}, Key: key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, kind: KindCommit, value: kv.Value, bad: err})
			continue
		}
		cr.Commits = append(cr.Commits, r)
	}
	qp := requestPrefix(room)
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		key := string(kv.Key)
		u, err := parseRequestKey(strings.TrimPrefix(key, qp))
		if err != nil {
			cr.Bad = append(cr.Bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
			continue
		}
		r, err := decodeRequest(key, string(u), kv.Value, kv.CreateRevision, kv.ModRevision)
		if err != nil {
			cr.Bad = append(cr.Bad, BadRecord{Key: key, Revision: kv.ModRevision, Err: err})
			continue
		}
		cr.Requests = append(cr.Requests, r)
	}
	if pin > 0 {
		if kvs := resp.Responses[3].GetResponseRange().Kvs; len(kvs) > 0 {
			kv := kvs[0]
			r, err := decodeCommit(string(kv.Key), string(room), pin, kv.Value, kv.CreateRevision, kv.ModRevision)
			if err == nil {
				cr.Pinned = r
			} else {
				cr.Pinned = &Signed[Commit]{Body: Commit{Room: string(room), N: pin}, Key: string(kv.Key), CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, kind: KindCommit, value: kv.Value, bad: err}
			}
		}
	}
	return cr, nil
}

// RoomListing is one room as the room list shows it: its record and the
// unsigned hint of its newest commit (for display only; membership is
// decided by verifying the chain).
type RoomListing struct {
	Room      *Signed[Room]
	HeadHint  uint64
	CountHint int
}

// listPage is how many room records one ranged request of Rooms reads.
const listPage = 1000

// Rooms lists every room record, in byte order of name, with the unsigned
// hints of their newest commits, in pages of 1000 records per request (a
// list of 10,000 rooms is 20 requests, not one per room). progress, if not
// nil, is called with the number of rooms read so far.
func (c *Client) Rooms(ctx context.Context, progress func(int)) (rooms []RoomListing, bad []BadRecord, rev int64, err error) {
	hints := make(map[string][2]uint64)
	if err := c.rangePages(ctx, headsDir, 0, func(kv kvPair) {
		n, count, ok := parseHeadHint(kv.value)
		if ok {
			hints[strings.TrimPrefix(kv.key, headsDir)] = [2]uint64{n, count}
		}
	}, nil); err != nil {
		return nil, nil, 0, fmt.Errorf("list rooms: %w", err)
	}
	rev, err = c.rangePagesRev(ctx, roomsDir, func(kv kvPair) {
		name := strings.TrimPrefix(kv.key, roomsDir)
		if _, err := parseRoom(name); err != nil {
			bad = append(bad, BadRecord{Key: kv.key, Revision: kv.mod, Err: fmt.Errorf("%w: %v", ErrBadRecord, err)})
			return
		}
		r, err := decodeRoom(kv.key, name, kv.value, kv.create, kv.mod)
		if err != nil {
			bad = append(bad, BadRecord{Key: kv.key, Revision: kv.mod, Err: err})
			return
		}
		h := hints[name]
		rooms = append(rooms, RoomListing{Room: r, HeadHint: h[0], CountHint: int(h[1])})
	}, func() {
		if progress != nil {
			progress(len(rooms))
		}
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list rooms: %w", err)
	}
	return rooms, bad, rev, nil
}

type kvPair struct {
	key         string
	value       []byte
	create, mod int64
}

// rangePagesRev reads every key under prefix in ascending pages at one
// revision, which it returns. Each page is its own bounded round trip.
func (c *Client) rangePagesRev(ctx context.Context, prefix string, each func(kvPair), page func()) (int64, error) {
	var rev int64
	err := c.rangePages(ctx, prefix, 0, func(kv kvPair) { each(kv) }, func(r int64) {
		rev = r
		if page != nil {
			page()
		}
	})
	return rev, err
}

func (c *Client) rangePages(ctx context.Context, prefix string, rev int64, each func(kvPair), page func(rev int64)) error {
	start := prefix
	end := clientv3.GetPrefixRangeEnd(prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		var resp *clientv3.GetResponse
		err := c.retried(ctx, func(ctx context.Context) (err error) {
			resp, err = c.cli.Get(ctx, start, opts...)
			return err
		})
		if err != nil {
			return mapErr(err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			each(kvPair{key: string(kv.Key), value: kv.Value, create: kv.CreateRevision, mod: kv.ModRevision})
		}
		if page != nil {
			page(rev)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func headHint(n uint64, count int) string {
	return strconv.FormatUint(n, 10) + " " + strconv.Itoa(count)
}

func parseHeadHint(v []byte) (n, count uint64, ok bool) {
	a, b, found := bytes.Cut(v, []byte(" "))
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.ParseUint(string(a), 10, 64)
	count, err2 := strconv.ParseUint(string(b), 10, 32)
	return n, count, err1 == nil && err2 == nil
}

// WrapPut is one wrap to write: a member device's sealed copy of an epoch
// key. Wraps are not signed: the commit they belong to commits to the key
// inside (Commit.KeyCheck), so a reader tells a genuine one by opening it.
type WrapPut struct {
	User   names.User
	Device string
	Sealed []byte
}

// wrapOpsPerTxn is how many wraps one transaction writes: within etcd's
// default of 128 operations, and at ~1.2 KB a wrap well within 1.5 MiB.
const wrapOpsPerTxn = 120

// inlineWraps is the most wraps that ride in the commit's own transaction.
const inlineWraps = 100

// maxTxnOps is etcd's default limit of operations per transaction
// (--max-txn-ops), compares included.
const maxTxnOps = 128

// CommitOptions says what a commit's transaction does besides storing the
// commit.
type CommitOptions struct {
	// Wraps are written for this commit under its WrapTag. Up to 100 go
	// in the commit's transaction; more are written first, in
	// transactions of 120, and the commit is the single atomic point:
	// wraps of a commit that never lands are never used.
	Wraps []WrapPut
	// Requests are the join requests the commit answers: each must be
	// unchanged (mod revision) and is deleted with the commit.
	Requests []*Signed[Request]
	// DropWrapsBefore, if not 0, deletes every wrap written for commits
	// before it, in the same transaction: a new epoch's wraps supersede
	// them. (A rotation passes the commit that started the epoch it
	// retires, so members who leave now keep their last wrap, and so the
	// history they were part of, until the next rotation.)
	DropWrapsBefore uint64
	// Room, for commit 1, is the room record, created with it.
	Room *Room
	// Joined and Gone are users whose room-list hints the commit sets to
	// "member" and deletes.
	Joined, Gone []names.User
}

// CommitResult reports what a commit cost.
type CommitResult struct {
	Commit       *Signed[Commit]
	Revision     int64
	BytesWritten int
	Transactions int
}

// PutCommit stores commit c.N of room, create-only, with what opts says,
// in one transaction that succeeds only if no commit c.N exists yet and
// every answered request is unchanged: of two members committing at once,
// one wins and the other gets ErrConflict (re-read and decide again).
// Retrying after ErrUnavailable is safe: a commit already stored with the
// same bytes is reported as success.
func (c *Client) PutCommit(ctx context.Context, s Signer, room names.Room, body Commit, opts CommitOptions) (*CommitResult, error) {
	if body.Room != string(room) || body.N == 0 {
		return nil, fmt.Errorf("commit to %q: bad commit %d", room, body.N)
	}
	if len(opts.Wraps) > 0 && !validTag(body.WrapTag) {
		return nil, fmt.Errorf("commit to %q: wraps without a valid tag", room)
	}
	key := commitKey(room, body.N)
	val, err := seal(KindCommit, key, body, s)
	if err != nil {
		return nil, err
	}
	res := &CommitResult{}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
	ops := []clientv3.Op{
		clientv3.OpPut(key, string(val)),
		clientv3.OpPut(headKey(room), headHint(body.N, body.Count)),
	}
	res.BytesWritten += len(key) + len(val)
	if opts.Room != nil {
		if body.N != 1 || opts.Room.Name != string(room) {
			return nil, fmt.Errorf("create room %q: the room record goes with commit 1", room)
		}
		rk := roomKey(room)
		rv, err := seal(KindRoom, rk, *opts.Room, s)
		if err != nil {
			return nil, err
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(rk), "=", 0))
		ops = append(ops, clientv3.OpPut(rk, string(rv)))
		res.BytesWritten += len(rk) + len(rv)
	} else if body.N > 1 {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(commitKey(room, body.N-1)), ">", 0))
	}
	for _, r := range opts.Requests {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r.Key), "=", r.ModRevision))
		ops = append(ops, clientv3.OpDelete(r.Key))
	}
	for _, u := range opts.Joined {
		ops = append(ops, clientv3.OpPut(hintKey(u, room), "member"))
	}
	for _, u := range opts.Gone {
		ops = append(ops, clientv3.OpDelete(hintKey(u, room)))
	}
	if opts.DropWrapsBefore > 1 && opts.DropWrapsBefore <= body.N {
		ops = append(ops, clientv3.OpDelete(wrapPrefix(room), clientv3.WithRange(wrapPrefix(room)+commitStr(opts.DropWrapsBefore))))
	}
	if len(cmps)+len(ops) > maxTxnOps {
		return nil, fmt.Errorf("commit to %q: %d operations: %w", room, len(cmps)+len(ops), ErrTooLarge)
	}
	// Wraps ride in the commit's transaction while it stays within etcd's
	// limits; more are written first (see putWraps).
	inline := opts.Wraps
	if len(cmps)+len(ops)+len(inline) > maxTxnOps || len(inline) > inlineWraps {
		if err := c.putWraps(ctx, room, body.N, body.WrapTag, opts.Wraps, res); err != nil {
			return nil, err
		}
		inline = nil
	}
	for _, w := range inline {
		op, n, err := wrapOp(room, body.N, body.WrapTag, w)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		res.BytesWritten += n
	}
	var resp *clientv3.TxnResponse
	err = c.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key)).Commit()
		return err
	})
	res.Transactions++
	if err != nil {
		return nil, fmt.Errorf("commit %d to %q: %w", body.N, room, mapErr(err))
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && bytes.Equal(kvs[0].Value, val) {
			// A retry of a commit that had gone through.
			rec, err := decodeCommit(key, string(room), body.N, val, kvs[0].CreateRevision, kvs[0].ModRevision)
			if err != nil {
				return nil, err
			}
			res.Commit, res.Revision = rec, kvs[0].CreateRevision
			return res, nil
		}
		if len(opts.Wraps) > len(inline) {
			// Our wraps were written for a commit that lost: remove them.
			_, _ = c.cli.Delete(ctx, wrapSetPrefix(room, body.N, body.WrapTag), clientv3.WithPrefix())
		}
		return nil, fmt.Errorf("commit %d to %q: %w", body.N, room, ErrConflict)
	}
	rec, err := decodeCommit(key, string(room), body.N, val, resp.Header.Revision, resp.Header.Revision)
	if err != nil {
		return nil, err
	}
	res.Commit, res.Revision = rec, resp.Header.Revision
	return res, nil
}

func wrapOp(room names.Room, n uint64, tag string, w WrapPut) (clientv3.Op, int, error) {
	if !validTag(w.Device) {
		return clientv3.Op{}, 0, fmt.Errorf("wrap for %q: bad device id %q", w.User, w.Device)
	}
	k := wrapKey(room, n, tag, w.User, w.Device)
	return clientv3.OpPut(k, string(w.Sealed)), len(k) + len(w.Sealed), nil
}

// putWraps writes wraps in transactions of wrapOpsPerTxn, four at a time.
// The keys are under a fresh random tag, so plain puts are safe to retry.
func (c *Client) putWraps(ctx context.Context, room names.Room, n uint64, tag string, wraps []WrapPut, res *CommitResult) error {
	type chunk struct {
		ops   []clientv3.Op
		bytes int
	}
	var chunks []chunk
	for start := 0; start < len(wraps); start += wrapOpsPerTxn {
		end := min(start+wrapOpsPerTxn, len(wraps))
		var ch chunk
		for _, w := range wraps[start:end] {
			op, size, err := wrapOp(room, n, tag, w)
			if err != nil {
				return err
			}
			ch.ops = append(ch.ops, op)
			ch.bytes += size
		}
		chunks = append(chunks, ch)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 4)
	for _, ch := range chunks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := c.retried(ctx, func(ctx context.Context) error {
				_, err := c.cli.Txn(ctx).Then(ch.ops...).Commit()
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			res.Transactions++
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("write key wraps of %q: %w", room, mapErr(err))
			}
			res.BytesWritten += ch.bytes
		})
	}
	wg.Wait()
	return firstErr
}

// Wrap reads one device's wrap written for commit n under tag.
// ErrNotFound if there is none.
func (c *Client) Wrap(ctx context.Context, room names.Room, n uint64, tag string, user names.User, device string) ([]byte, error) {
	if !validTag(tag) || !validTag(device) {
		return nil, fmt.Errorf("read key wrap in %q: bad tag or device", room)
	}
	resp, _, err := c.getOrStale(ctx, wrapKey(room, n, tag, user, device)) // stale.go
	if err != nil {
		return nil, fmt.Errorf("read key wrap in %q: %w", room, mapErr(err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("key wrap of %s for commit %d of %q: %w", user, n, room, ErrNotFound)
	}
	return resp.Kvs[0].Value, nil
}

// PutRequest files s's request to join room. It fails with ErrExists if a
// request is already pending.
func (c *Client) PutRequest(ctx context.Context, s Signer, room names.Room, req Request) error {
	u, err := parseUser(req.User)
	if err != nil {
		return err
	}
	k := requestKey(room, u)
	v, err := seal(KindRequest, k, req, s)
	if err != nil {
		return err
	}
	var resp *clientv3.TxnResponse
	err = c.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, string(v)), clientv3.OpPut(hintKey(u, room), "request")).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("request to join %q: %w", room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("request to join %q: %w", room, ErrExists)
	}
	return nil
}

// DeleteRequest withdraws user's pending request, if any.
func (c *Client) DeleteRequest(ctx context.Context, room names.Room, user names.User) error {
	_, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(hintKey(user, room)), "=", "request")).
		Then(clientv3.OpDelete(requestKey(room, user)), clientv3.OpDelete(hintKey(user, room))).
		Else(clientv3.OpDelete(requestKey(room, user))).
		Commit()
	if err != nil {
		return fmt.Errorf("withdraw request to %q: %w", room, mapErr(err))
	}
	return nil
}

// MyRooms returns the room-list hints of user: room name to "member" or
// "request". They are unsigned and for display only; membership is
// decided by verifying each room's chain.
func (c *Client) MyRooms(ctx context.Context, user names.User) (map[string]string, error) {
	out := make(map[string]string)
	p := hintsDir + string(user) + "/"
	err := c.rangePages(ctx, p, 0, func(kv kvPair) {
		out[strings.TrimPrefix(kv.key, p)] = string(kv.value)
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("list my rooms: %w", err)
	}
	return out, nil
}

// RoomsRevision returns the store's current revision, read with a
// linearizable Get of one key that is never written (so nothing is
// scanned): watch the rooms from it + 1 to miss no room created later.
func (c *Client) RoomsRevision(ctx context.Context) (int64, error) {
	resp, err := c.cli.Get(ctx, roomsDir, clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", mapErr(err))
	}
	return resp.Header.Revision, nil
}

// DropCommit deletes commit n of room if it is still the record read at
// modRev: an invalid commit (a forgery, or garbage) that sits where the
// next commit goes and can never count. ErrConflict if it changed.
func (c *Client) DropCommit(ctx context.Context, room names.Room, n uint64, modRev int64) error {
	k := commitKey(room, n)
	var resp *clientv3.TxnResponse
	err := c.retried(ctx, func(ctx context.Context) (err error) {
		resp, err = c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
			Then(clientv3.OpDelete(k)).
			Commit()
		return err
	})
	if err != nil {
		return fmt.Errorf("remove invalid commit %d of %q: %w", n, room, mapErr(err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("remove invalid commit %d of %q: %w", n, room, ErrConflict)
	}
	return nil
}
