package testkit

import (
	"maps"
	"slices"
	"sync"
)

// Outbox is chat.Outbox in memory, shared by the services of one test
// as a home's outbox is by its processes. Its zero value is ready to use.
type Outbox struct {
	// Exclusive makes TryLock hand out one lock at a time, as the file
	// lock of a home does; otherwise every TryLock succeeds.
	Exclusive bool

	mu      sync.Mutex
	m       map[string][]byte
	last    map[string][]byte // the last version of every entry ever put
	lists   int
	listErr error
	locked  bool
}

func (o *Outbox) Put(id string, data []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m, o.last = make(map[string][]byte), make(map[string][]byte)
	}
	o.m[id] = slices.Clone(data)
	o.last[id] = slices.Clone(data)
	return nil
}

func (o *Outbox) Delete(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, id)
	return nil
}

func (o *Outbox) List() (map[string][]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lists++
	if o.listErr != nil {
		return nil, o.listErr
	}
	out := make(map[string][]byte, len(o.m))
	for k, v := range o.m {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

func (o *Outbox) TryLock() (unlock func(), ok bool, err error) {
	if !o.Exclusive {
		return func() {}, true, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.locked {
		return nil, false, nil
	}
	o.locked = true
	return func() { o.mu.Lock(); o.locked = false; o.mu.Unlock() }, true, nil
}

// Lists counts the calls of List so far.
func (o *Outbox) Lists() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lists
}

// FailList makes List fail with err from now on (nil: succeed again).
func (o *Outbox) FailList(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.listErr = err
}

// Restore puts back every entry ever put, in its last version, as a crash
// between a delivery and the removal of its entry would leave them.
func (o *Outbox) Restore() {
	o.mu.Lock()
	defer o.mu.Unlock()
	maps.Copy(o.m, o.last)
}

// Len is the number of entries waiting.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}

// ReadMarks is chat.ReadMarks in memory; a mark never goes back. Its zero
// value is ready to use.
type ReadMarks struct {
	mu sync.Mutex
	m  map[string]int64
}

func (r *ReadMarks) ReadMark(room string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[room]
}

func (r *ReadMarks) SetReadMark(room string, rev int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]int64)
	}
	r.m[room] = max(r.m[room], rev)
	return nil
}
