package store

import (
	"testing"
	"time"
)

// The bound of a write attempt starts at the minimum, grows by half after
// each attempt that ran out of time, and follows the latency of writes
// that succeed.
func TestAttemptTimer(t *testing.T) {
	type step struct {
		took        time.Duration
		ok, expired bool
	}
	ms := time.Millisecond
	expire := func(n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{MinWriteAttempt, false, true}
		}
		return s
	}
	tests := []struct {
		name  string
		steps []step
		want  time.Duration
	}{
		{"new", nil, MinWriteAttempt},
		{"fast writes", []step{{2 * ms, true, false}, {3 * ms, true, false}}, MinWriteAttempt},
		{"one expired", expire(1), MinWriteAttempt},
		{"forgiven", expire(forgiven), MinWriteAttempt},
		{"one more", expire(forgiven + 1), 750 * ms},
		{"two more", expire(forgiven + 2), 1125 * ms},
		{"many expired", expire(forgiven + 8), maxWriteAttempt},
		{"a slow cluster learnt", []step{{500 * ms, false, true}, {600 * ms, true, false}}, 600*ms + 4*300*ms},
		{"smoothed", []step{{600 * ms, true, false}, {200 * ms, true, false}}, 550*ms + 4*325*ms},
		{"an unavailable cluster says nothing", append(expire(forgiven+1), step{10 * ms, false, false}), 750 * ms},
		{"an answer ends the backoff", []step{{500 * ms, false, true}, {500 * ms, false, true}, {5 * ms, true, false}}, MinWriteAttempt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a attemptTimer
			for _, s := range tt.steps {
				a.observe(s.took, s.ok, s.expired)
			}
			if got := a.bound(); got != tt.want {
				t.Fatalf("bound = %v, want %v", got, tt.want)
			}
		})
	}
}

// One slow answer after fast ones widens the bound past it at once, so
// the next write, as slow, does not run out.
func TestAttemptTimerJump(t *testing.T) {
	var a attemptTimer
	for range 20 {
		a.observe(time.Millisecond, true, false)
	}
	a.observe(700*time.Millisecond, true, false)
	if got := a.bound(); got <= 700*time.Millisecond {
		t.Fatalf("bound after a 700ms answer = %v, want more than 700ms", got)
	}
}
