package node

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/fsutil"
)

// A process that starts while the host is still starting waits for the
// host's member instead of failing or starting one of its own.
func TestLocalWaitsForStartingHost(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, localDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Play a host that holds the lock but has not recorded its endpoint.
	lock, err := os.OpenFile(filepath.Join(dir, localLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if ok, err := fsutil.TryLock(lock); !ok || err != nil {
		t.Fatalf("lock: %v, %v", ok, err)
	}

	// Bounded wait.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := Local(ctx, home, nil); !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "hosted by another process") {
		t.Fatalf("Local with the host never ready = %v", err)
	}

	// The host records its endpoint, then starts the member a little later.
	urls, err := FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	rec := endpointRecord{ClientURL: urls[0], PeerURL: urls[1]}
	if err := writeEndpoint(dir, rec); err != nil {
		t.Fatal(err)
	}
	type result struct {
		s   *Shared
		err error
	}
	got := make(chan result, 1)
	go func() {
		s, err := Local(t.Context(), home, nil)
		got <- result{s, err}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-got:
		t.Fatalf("Local returned before the member ran: %v, %v", r.s, r.err)
	default:
	}
	s := &Shared{dir: dir, log: slog.New(slog.DiscardHandler)}
	n, err := s.startMember(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	r := <-got
	if r.err != nil {
		t.Fatalf("Local: %v", r.err)
	}
	defer r.s.Close()
	if r.s.Hosting() || r.s.Endpoints()[0] != rec.ClientURL {
		t.Fatalf("Hosting %v, Endpoints %v; want false, [%s]", r.s.Hosting(), r.s.Endpoints(), rec.ClientURL)
	}
}
