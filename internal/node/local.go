package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/parley-chat/parley/internal/fsutil"
)

// Files of the shared local member, all in <home>/etcd.
const (
	localDirName     = "etcd"
	localLockName    = "lock"     // locked (fsutil.TryLock) by the hosting process
	localRecordName  = "endpoint" // JSON endpointRecord
	localDataName    = "data"     // the member's data directory
	localLogName     = "etcd.log" // etcd's own log
	localMemberName  = "local"
	localTokenName   = "local"
	localLogMaxBytes = 16 << 20 // the log is rotated once, to etcd.log.1, beyond this
)

// Timing of the shared local member.
const (
	// localWait bounds how long Local waits for a member hosted by another
	// process when its context has no deadline, and how long a takeover
	// may take to start the member.
	localWait = 30 * time.Second
	// localPoll is how often Local looks for a member that another process
	// is starting.
	localPoll = 50 * time.Millisecond
	// takeoverInterval is how often a process that does not host the
	// member tries to take the lock.
	takeoverInterval = 300 * time.Millisecond
	// takeoverMaxBackoff bounds the delay between failed takeovers.
	takeoverMaxBackoff = 5 * time.Second
	// A single member elects itself within one election timeout of
	// starting; short ticks make that quick. With no peers, a short
	// heartbeat costs nothing but a timer.
	localHeartbeat = 20 * time.Millisecond
	localElection  = 200 * time.Millisecond
)

// Shared is a handle on the single-member etcd that every process using
// the same home directory shares. Exactly one of those processes hosts the
// member; the others are its clients, and one of them takes over hosting
// when the host exits. All of them reach it at the same client URL, which
// stays the same across takeovers and restarts, so etcd clients connected
// to [Shared.Endpoints] keep working through a takeover after reconnecting
// by themselves.
//
// Which process hosts is decided by an exclusive lock on <home>/etcd/lock;
// the member's data lives in <home>/etcd/data, its URLs are recorded in
// <home>/etcd/endpoint, and etcd logs to <home>/etcd/etcd.log. Only the
// lock holder opens the data files, and only it writes the record.
//
// A Shared that does not host tries the lock every 300 ms. The system
// releases the lock when the file holding it is closed, so the lock
// comes free as soon as the host closes its Shared, exits or dies; the
// first Shared to get it starts the member on the recorded URLs, with the
// same data, and its clients and everyone else's reconnect to it. A
// Shared that hosts a member that stops by itself releases the lock, so
// that the member can be started again.
type Shared struct {
	dir       string
	clientURL string
	peerURL   string
	log       *slog.Logger
	lockFile  *os.File

	ctx    context.Context // canceled by Close; bounds takeovers
	cancel context.CancelFunc
	wg     sync.WaitGroup // the run goroutine

	mu   sync.Mutex
	node *Node // the hosted member; nil while another process hosts it

	closeOnce sync.Once
	closeErr  error
}

// endpointRecord is the content of <home>/etcd/endpoint.
type endpointRecord struct {
	ClientURL string `json:"client_url"`
	PeerURL   string `json:"peer_url"`
}

// Local returns a handle on the local member of home, creating <home>/etcd
// (mode 0700) if needed. If no process hosts the member, this one starts
// it: on the URLs recorded in <home>/etcd/endpoint, or on free loopback
// ports recorded there the first time. Otherwise Local waits until the
// member answers on its recorded client URL, for another process may be
// starting it. ctx bounds the wait and the start; without a deadline they
// are bounded by 30 s.
//
// Messages about hosting and takeovers go to log; nil discards them.
func Local(ctx context.Context, home string, log *slog.Logger) (*Shared, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if home == "" {
		return nil, errors.New("node: local etcd member: no home directory")
	}
	dir := filepath.Join(home, localDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: local etcd member: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: local etcd member: %w", err)
	}
	if isHosted(dir) {
		return nil, fmt.Errorf("node: local etcd member in %s: %w", dir, ErrHosted)
	}
	lf, err := os.OpenFile(filepath.Join(dir, localLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: local etcd member: %w", err)
	}
	s := &Shared{dir: dir, log: log, lockFile: lf}
	if err := s.join(ctx); err != nil {
		return nil, errors.Join(err, lf.Close())
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// Endpoints returns the client URLs of the local member. They do not
// change for the life of s.
func (s *Shared) Endpoints() []string { return []string{s.clientURL} }

// Hosting reports whether this process hosts the member at the moment.
func (s *Shared) Hosting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node != nil
}

// Close stops taking over and, if this process hosts the member, stops the
// member and releases the lock so that another process can take over. It
// waits until all of that is done. Close may be called more than once.
func (s *Shared) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		var errs []error
		s.mu.Lock()
		n := s.node
		s.node = nil
		s.mu.Unlock()
		if n != nil {
			errs = append(errs, n.Close())
			s.log.Info("stopped hosting local etcd member", "dir", s.dir)
		}
		// Closing the only descriptor of the lock file releases the lock.
		if err := s.lockFile.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close %s: %w", s.lockFile.Name(), err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// join makes s either the host of the member or a client of a member
// hosted by another process.
func (s *Shared) join(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, localWait)
		defer cancel()
	}
	var notReady error
	for {
		locked, err := fsutil.TryLock(s.lockFile)
		if err != nil {
			return err
		}
		if locked {
			if err := s.hostFirst(ctx); err != nil {
				return errors.Join(err, fsutil.Unlock(s.lockFile))
			}
			return nil
		}
		rec, err := readEndpoint(s.dir)
		switch {
		case err == nil:
			if notReady = checkReady(ctx, rec.ClientURL); notReady == nil {
				s.clientURL, s.peerURL = rec.ClientURL, rec.PeerURL
				s.log.Debug("using local etcd member hosted by another process",
					"dir", s.dir, "client_url", s.clientURL)
				return nil
			}
		case errors.Is(err, fs.ErrNotExist):
			notReady = errors.New("no endpoint recorded yet")
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: wait for the local etcd member in %s, hosted by another process: %w (%v)",
				s.dir, context.Cause(ctx), notReady)
		case <-time.After(localPoll):
		}
	}
}

// hostFirst starts the member for a process that holds the lock from the
// start, choosing and recording its URLs if none are recorded.
func (s *Shared) hostFirst(ctx context.Context) error {
	rec, err := readEndpoint(s.dir)
	switch {
	case err == nil:
		n, err := s.startMember(ctx, rec)
		if err != nil {
			return err
		}
		s.clientURL, s.peerURL, s.node = rec.ClientURL, rec.PeerURL, n
		return nil
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	// No URLs recorded: this is the member's first start in this home (or
	// the record was removed). Pick free ports; another program may grab
	// one before etcd binds it, so try a few times.
	const attempts = 3
	for i := 1; ; i++ {
		urls, err := FreeLoopbackURLs(2)
		if err != nil {
			return err
		}
		rec := endpointRecord{ClientURL: urls[0], PeerURL: urls[1]}
		if err := writeEndpoint(s.dir, rec); err != nil {
			return err
		}
		n, err := s.startMember(ctx, rec)
		if err == nil {
			s.clientURL, s.peerURL, s.node = rec.ClientURL, rec.PeerURL, n
			return nil
		}
		if i == attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
}

// startMember starts the member on the URLs of rec.
func (s *Shared) startMember(ctx context.Context, rec endpointRecord) (*Node, error) {
	logFile := filepath.Join(s.dir, localLogName)
	if err := rotateLog(logFile, localLogMaxBytes); err != nil {
		return nil, err
	}
	cfg := Config{
		Name:                localMemberName,
		DataDir:             filepath.Join(s.dir, localDataName),
		ListenClientURLs:    []string{rec.ClientURL},
		ListenPeerURLs:      []string{rec.PeerURL},
		InitialClusterToken: localTokenName,
		LogFile:             logFile,
		HeartbeatInterval:   localHeartbeat,
		ElectionTimeout:     localElection,
	}
	n, err := Start(ctx, cfg, s.log)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("node: the local etcd member's recorded address (client %s, peer %s, in %s) is taken by another program; stop that program, or remove %[3]s while no process uses this home directory: %w",
				rec.ClientURL, rec.PeerURL, filepath.Join(s.dir, localRecordName), err)
		}
		return nil, err
	}
	s.log.Info("hosting local etcd member", "dir", s.dir, "client_url", rec.ClientURL)
	return n, nil
}

// run is the goroutine that watches the hosted member while this process
// hosts it and tries to take over while it does not. It returns when
// s.ctx is canceled.
func (s *Shared) run() {
	defer s.wg.Done()
	delay := takeoverInterval
	for {
		s.mu.Lock()
		n := s.node
		s.mu.Unlock()

		if n != nil {
			select {
			case <-s.ctx.Done():
				return
			case <-n.Done():
			}
			// The member stopped by itself. Release it so that any process,
			// this one included, can start it again.
			s.log.Error("local etcd member stopped", "dir", s.dir, "err", n.Err())
			s.mu.Lock()
			s.node = nil
			s.mu.Unlock()
			if err := errors.Join(n.Close(), fsutil.Unlock(s.lockFile)); err != nil {
				s.log.Error("release local etcd member", "err", err)
			}
			delay = takeoverMaxBackoff
			continue
		}

		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		locked, err := fsutil.TryLock(s.lockFile)
		if err != nil {
			s.log.Error("take over local etcd member", "err", err)
			delay = takeoverMaxBackoff
			continue
		}
		if !locked {
			delay = takeoverInterval
			continue
		}
		n, err = s.takeOver()
		if err != nil {
			if uerr := fsutil.Unlock(s.lockFile); uerr != nil {
				err = errors.Join(err, uerr)
			}
			if s.ctx.Err() != nil {
				return // Close interrupted the start
			}
			delay = min(2*delay, takeoverMaxBackoff)
			s.log.Error("take over local etcd member", "retry_in", delay, "err", err)
			continue
		}
		s.mu.Lock()
		s.node = n
		s.mu.Unlock()
		delay = takeoverInterval
	}
}

// takeOver starts the member, after its previous host exited, on the URLs
// this process has been using.
func (s *Shared) takeOver() (*Node, error) {
	rec := endpointRecord{ClientURL: s.clientURL, PeerURL: s.peerURL}
	switch got, err := readEndpoint(s.dir); {
	case err == nil && got == rec:
	case err == nil || errors.Is(err, fs.ErrNotExist):
		// Only lock holders write the record, and every one of them keeps
		// the URLs it found; a different record was put there by hand.
		s.log.Warn("local etcd endpoint record changed; restoring it", "dir", s.dir, "found", got, "restored", rec)
		if err := writeEndpoint(s.dir, rec); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, localWait)
	defer cancel()
	n, err := s.startMember(ctx, rec)
	if err != nil {
		return nil, err
	}
	s.log.Info("took over local etcd member", "dir", s.dir, "client_url", rec.ClientURL)
	return n, nil
}

// readEndpoint reads and checks the record in dir. It returns an error
// satisfying errors.Is(err, fs.ErrNotExist) if there is none.
func readEndpoint(dir string) (endpointRecord, error) {
	path := filepath.Join(dir, localRecordName)
	b, err := os.ReadFile(path)
	if err != nil {
		return endpointRecord{}, fmt.Errorf("node: read local etcd endpoint: %w", err)
	}
	var rec endpointRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return endpointRecord{}, fmt.Errorf("node: read local etcd endpoint %s: %w", path, err)
	}
	for _, u := range []string{rec.ClientURL, rec.PeerURL} {
		if err := checkLoopbackURL(u); err != nil {
			return endpointRecord{}, fmt.Errorf("node: read local etcd endpoint %s: %w", path, err)
		}
	}
	return rec, nil
}

// checkLoopbackURL checks that s is an http URL on a loopback address.
func checkLoopbackURL(s string) error {
	u, err := parseMemberURL(s)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme != "http" || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("URL %q: want http on a loopback address", s)
	}
	return nil
}

// writeEndpoint replaces the record in dir atomically.
func writeEndpoint(dir string, rec endpointRecord) error {
	b, err := json.Marshal(rec)
	if err == nil {
		err = fsutil.WriteFileAtomic(filepath.Join(dir, localRecordName), append(b, '\n'), 0o600)
	}
	if err != nil {
		return fmt.Errorf("node: write local etcd endpoint: %w", err)
	}
	return nil
}

// checkReady reports whether the member at clientURL answers and is ready
// to serve requests.
func checkReady(ctx context.Context, clientURL string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	u, err := url.JoinPath(clientURL, "readyz")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true} // no proxy, no idle connections
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// rotateLog moves path to path.1 if it is larger than max bytes.
func rotateLog(path string, max int64) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() <= max) {
		return nil
	}
	if err == nil {
		err = os.Rename(path, path+".1")
	}
	if err != nil {
		return fmt.Errorf("node: rotate etcd log: %w", err)
	}
	return nil
}
