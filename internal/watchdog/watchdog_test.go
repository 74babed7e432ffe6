package watchdog

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

var errStalled = errors.New("no answer for 5s")

// alive reports whether ctx is still running once every goroutine of the
// bubble has settled.
func alive(ctx context.Context) bool {
	synctest.Wait()
	return ctx.Err() == nil
}

func TestFiresWithoutProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, w := New(t.Context(), 5*time.Second, errStalled)
		defer w.Stop()
		time.Sleep(5*time.Second - time.Millisecond)
		if !alive(ctx) {
			t.Fatal("cancelled before its timeout")
		}
		time.Sleep(time.Millisecond)
		if alive(ctx) {
			t.Fatal("still running 5s after the last progress")
		}
		if got := context.Cause(ctx); got != errStalled {
			t.Fatalf("Cause = %v, want %v", got, errStalled)
		}
		if got := w.Err(context.Canceled); got != errStalled {
			t.Fatalf("Err(canceled) = %v, want %v", got, errStalled)
		}
	})
}

func TestTouchKeepsAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, w := New(t.Context(), 5*time.Second, errStalled)
		defer w.Stop()
		for range 20 { // 60 s in all, never 5 s without progress
			time.Sleep(3 * time.Second)
			w.Touch()
		}
		if !alive(ctx) {
			t.Fatal("cancelled although touched every 3s")
		}
		time.Sleep(5 * time.Second)
		if alive(ctx) {
			t.Fatal("still running 5s after the last touch")
		}
	})
}

func TestPauseStopsTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, w := New(t.Context(), 5*time.Second, errStalled)
		defer w.Stop()
		time.Sleep(4 * time.Second)
		w.Pause()
		w.Pause()
		time.Sleep(time.Minute) // a slow reader of the output
		w.Resume()
		if !alive(ctx) {
			t.Fatal("cancelled while paused")
		}
		w.Resume()
		time.Sleep(5*time.Second - time.Millisecond)
		if !alive(ctx) {
			t.Fatal("Resume did not start the timeout afresh")
		}
		time.Sleep(time.Millisecond)
		if alive(ctx) {
			t.Fatal("still running 5s after Resume")
		}
	})
}

func TestStopAndParent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, w := New(t.Context(), 5*time.Second, errStalled)
		w.Stop()
		if alive(ctx) {
			t.Fatal("running after Stop")
		}
		other := errors.New("refused")
		if got := w.Err(other); got != other {
			t.Fatalf("Err after Stop = %v, want the operation's error", got)
		}
		if got := w.Err(nil); got != nil {
			t.Fatalf("Err(nil) = %v", got)
		}

		parent, cancel := context.WithCancel(t.Context())
		ctx, w = New(parent, 5*time.Second, errStalled)
		defer w.Stop()
		cancel()
		if alive(ctx) {
			t.Fatal("running after its parent ended")
		}
		if got := w.Err(context.Canceled); got != context.Canceled {
			t.Fatalf("Err after the parent ended = %v, want context.Canceled", got)
		}
	})
}
