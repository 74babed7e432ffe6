// Package watchdog bounds an operation by how long it goes without
// progress instead of by how long it takes: reading a history of 200,000
// messages takes many seconds, each of its round trips to the cluster a
// few milliseconds. A front end gives such an operation a watchdog of its
// configured timeout and touches it after every round trip, so the
// timeout still catches a cluster that stopped answering, but never the
// size of what is read.
//
// It knows nothing of chat or etcd: it deals in contexts and durations.
package watchdog

import (
	"context"
	"sync"
	"time"
)

// Watchdog cancels its context once its timeout passes without a Touch.
// Its methods are safe for concurrent use.
type Watchdog struct {
	d      time.Duration           // immutable after construction
	err    error                   // the cause it cancels with; immutable
	cancel context.CancelCauseFunc // immutable

	mu      sync.Mutex // guards the fields below
	timer   *time.Timer
	due     time.Time // when it fires, unless touched or paused
	paused  int
	fired   bool
	stopped bool
}

// New returns a context derived from parent and its watchdog. The context
// is cancelled, with cause err (see [context.Cause] and [Watchdog.Err]),
// once d passes without a call to Touch (Pause stops the clock). Call Stop
// when the operation ends.
func New(parent context.Context, d time.Duration, err error) (context.Context, *Watchdog) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &Watchdog{d: d, err: err, cancel: cancel}
	w.mu.Lock()
	w.due = time.Now().Add(d)
	w.timer = time.AfterFunc(d, w.check)
	w.mu.Unlock()
	return ctx, w
}

// check runs when the timer goes off: it fires, unless a Touch moved the
// deadline meanwhile (the timer is then set for the rest).
func (w *Watchdog) check() {
	w.mu.Lock()
	if w.paused > 0 || w.stopped || w.fired {
		w.mu.Unlock()
		return
	}
	if left := time.Until(w.due); left > 0 {
		w.timer.Reset(left)
		w.mu.Unlock()
		return
	}
	w.fired = true
	w.mu.Unlock()
	w.cancel(w.err)
}

// Touch reports progress: the timeout starts again from now.
func (w *Watchdog) Touch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused == 0 {
		w.due = time.Now().Add(w.d)
	}
}

// Pause stops the clock while the operation waits on something that is not
// the cluster, such as a reader of its output that is slow to take it;
// Resume starts the timeout afresh. Pauses nest.
func (w *Watchdog) Pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused++
	w.timer.Stop()
}

// Resume ends a Pause.
func (w *Watchdog) Resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused == 0 {
		return
	}
	if w.paused--; w.paused == 0 && !w.stopped && !w.fired {
		w.due = time.Now().Add(w.d)
		w.timer.Reset(w.d)
	}
}

// Stop ends the watch and cancels the context (with context.Canceled, if
// the watchdog had not fired).
func (w *Watchdog) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// Err returns the error an operation under the watchdog ended with: the
// watchdog's own error if it fired (the operation then failed only for
// being cancelled), err otherwise.
func (w *Watchdog) Err(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.fired {
		return w.err
	}
	return err
}
