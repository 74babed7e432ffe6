package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrStopped is the error a [Node] reports when its etcd server stopped
// without [Node.Close] being called, for example because the member was
// removed from its cluster.
var ErrStopped = errors.New("etcd server stopped")

// Node is a running etcd member. It is safe for concurrent use.
type Node struct {
	name        string
	id          uint64
	clientURLs  []string
	peerURLs    []string
	election    time.Duration // raft's election timeout
	etcd        *embed.Etcd
	log         *slog.Logger
	closeLogger func() error
	// closeStreams ends the member's gRPC streams (see endStreamsOnClose).
	closeStreams context.CancelFunc

	stop      chan struct{} // closed by Close
	stopOnce  sync.Once
	done      chan struct{} // closed by run once etcd is closed
	err       error         // set by run before done is closed
	loggerErr error         // set by run before done is closed
}

// Start starts the etcd member described by cfg and waits until it is ready
// to serve clients, which for a member of a new multi-member cluster means
// until a quorum of members has started. If ctx ends first, Start stops the
// member and returns an error. (A member joining an existing cluster first
// asks the other members about it, which etcd bounds by its own timeouts,
// not by ctx.)
//
// Messages about the member's life go to log; nil discards them. etcd's own
// log goes to cfg.LogFile.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	lg, closeLogger, err := newZapLogger(cfg.LogFile, cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	ec, err := cfg.embedConfig(lg)
	if err != nil {
		return nil, errors.Join(err, closeLogger())
	}
	closing, closeStreams := context.WithCancel(context.Background())
	ec.GRPCAdditionalServerOptions = append(ec.GRPCAdditionalServerOptions,
		grpc.ChainStreamInterceptor(endStreamsOnClose(closing)))
	if cfg.CertRevoked != nil {
		ec.GRPCAdditionalServerOptions = append(ec.GRPCAdditionalServerOptions, revokedInterceptors(cfg.CertRevoked)...)
	}
	desc := fmt.Sprintf("etcd member %q (client %s, peer %s)", cfg.Name,
		strings.Join(cfg.ListenClientURLs, ","), strings.Join(cfg.ListenPeerURLs, ","))

	began := time.Now()
	e, err := embed.StartEtcd(ec)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("address already in use: %w", err)
		}
		closeStreams()
		return nil, errors.Join(fmt.Errorf("node: start %s: %w", desc, err), closeLogger())
	}

	var failure error
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		failure = fmt.Errorf("node: start %s: %w", desc, err)
	case <-e.Server.StopNotify():
		failure = fmt.Errorf("node: start %s: %w", desc, ErrStopped)
	case <-ctx.Done():
		failure = fmt.Errorf("node: start %s: not ready after %v: %w",
			desc, time.Since(began).Round(time.Millisecond), context.Cause(ctx))
	}
	if failure != nil {
		closeStreams()
		// etcd's Close waits for its client servers, which wait for the
		// server to be ready or stopping: stop the server first.
		e.Server.HardStop()
		e.Close()
		return nil, errors.Join(failure, closeLogger())
	}

	n := &Node{
		name:         cfg.Name,
		id:           uint64(e.Server.MemberID()),
		clientURLs:   cfg.AdvertiseClientURLs,
		peerURLs:     cfg.InitialAdvertisePeerURLs,
		election:     cfg.ElectionTimeout,
		etcd:         e,
		log:          log,
		closeLogger:  closeLogger,
		closeStreams: closeStreams,
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	log.Info("etcd member ready",
		"name", n.name,
		"id", fmt.Sprintf("%x", n.id),
		"client_urls", n.clientURLs,
		"took", time.Since(began).Round(time.Millisecond))
	go n.run()
	return n, nil
}

// run waits until the member fails, stops by itself or is asked to stop,
// then closes it and closes n.done.
func (n *Node) run() {
	defer close(n.done)
	var err error
	select {
	case <-n.stop:
	case e, ok := <-n.etcd.Err():
		if ok && e != nil {
			err = fmt.Errorf("node: etcd member %q failed: %w", n.name, e)
		} else {
			err = fmt.Errorf("node: etcd member %q: %w", n.name, ErrStopped)
		}
	case <-n.etcd.Server.StopNotify():
		err = fmt.Errorf("node: etcd member %q: %w", n.name, ErrStopped)
	}
	if err != nil {
		n.log.Error("etcd member stopped", "name", n.name, "err", err)
	}
	n.closeStreams()
	n.etcd.Close()
	n.err = err
	n.loggerErr = n.closeLogger()
	if err == nil {
		n.log.Info("etcd member closed", "name", n.name)
	}
}

// Name returns the member's name.
func (n *Node) Name() string { return n.name }

// ID returns the member's ID within its cluster.
func (n *Node) ID() uint64 { return n.id }

// ClientURLs returns the URLs the member advertises to clients.
func (n *Node) ClientURLs() []string { return slices.Clone(n.clientURLs) }

// PeerURLs returns the URLs the member advertises to other members.
func (n *Node) PeerURLs() []string { return slices.Clone(n.peerURLs) }

// IsLeader reports whether the member is, at the moment, the leader of its
// cluster.
func (n *Node) IsLeader() bool {
	select {
	case <-n.done:
		return false
	default:
		return n.etcd.Server.Leader() == n.etcd.Server.MemberID()
	}
}

// Done returns a channel that is closed once the member has stopped, after
// a call to Close or because it failed or was removed from its cluster.
// Once it is closed, the member's ports and data directory are released.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the member stopped by itself, or nil while it runs and
// after it was stopped by Close.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// Close stops the member and waits until it has stopped. Clients' pending
// requests get up to etcd's request timeout to finish. Close may be called
// more than once; every call waits, and all return the same result: an
// error only if etcd's log could not be flushed and closed.
func (n *Node) Close() error {
	n.stopOnce.Do(func() { close(n.stop) })
	<-n.done
	return n.loggerErr
}

// endStreamsOnClose returns a gRPC stream interceptor that ends every
// stream (watches, lease keep-alives) as soon as closing is done, with
// codes.Unavailable so that etcd clients treat it as a lost connection:
// they reconnect and resume their watches instead of giving up. Without it
// a member being closed waits for etcd's request timeout (7 s by default)
// for streams that clients keep open forever.
func endStreamsOnClose(closing context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(closing, cancel)()
		err := handler(srv, &streamWithContext{ServerStream: ss, ctx: ctx})
		if closing.Err() != nil && ss.Context().Err() == nil {
			return status.Error(codes.Unavailable, "etcd member is shutting down")
		}
		return err
	}
}

// streamWithContext is a server stream with a context of its own.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }

// newZapLogger returns the logger etcd logs to: an appending JSON log in
// path, or a logger that discards everything if path is empty. close flushes
// and closes the file.
func newZapLogger(path, level string) (lg *zap.Logger, close func() error, err error) {
	if path == "" {
		return zap.NewNop(), func() error { return nil }, nil
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, nil, fmt.Errorf("node: log level %q: %w", level, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("node: open etcd log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("node: open etcd log: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	out := zapcore.Lock(zapcore.AddSync(f))
	lg = zap.New(
		zapcore.NewCore(zapcore.NewJSONEncoder(enc), out, lvl),
		zap.AddCaller(),
		// zap reports its own failures on stderr unless told otherwise.
		zap.ErrorOutput(zapcore.AddSync(io.Discard)),
	)
	close = func() error {
		_ = lg.Sync() // fsync errors on special files are not interesting
		if err := f.Close(); err != nil {
			return fmt.Errorf("node: close etcd log: %w", err)
		}
		return nil
	}
	return lg, close, nil
}
