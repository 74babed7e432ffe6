// Package store is Parley's only door to etcd: it owns the key schema, the
// encoding of every record kept in etcd, the transactions that keep those
// records consistent, and the watches that deliver changes.
//
// Store knows nothing of chat rules (who may approve whom, how keys are
// sealed). It signs and verifies records only through the Signer and Verifier
// interfaces, binding every signature to the record's kind and etcd key, so a
// record copied to another key no longer verifies. It never sees plaintext:
// message envelopes are opaque bytes here.
package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/parley-chat/parley/internal/names"
)

// Config says how to reach an etcd cluster.
type Config struct {
	// Endpoints are the client URLs of the cluster (host:port or
	// http(s)://host:port). Required.
	Endpoints []string
	// TLS, when non-nil, is used for client connections.
	TLS *tls.Config
	// Username and Password authenticate to etcd when its auth is enabled;
	// empty means no authentication.
	Username, Password string
	// DialTimeout bounds authentication and the first status probe; zero
	// means 5 seconds.
	DialTimeout time.Duration
	// LogFile receives the etcd client's own log lines (retries, balancer
	// changes); empty discards them. They never go to the terminal.
	LogFile string
	// Logger receives Parley's own diagnostics; nil discards them.
	Logger *slog.Logger
	// DialOptions are added to the gRPC connection (instrumentation, such
	// as counting round trips in tests); nil adds none.
	DialOptions []grpc.DialOption
	// QuorumLost, if not nil, reports that the cluster is known to have
	// had no quorum for a while (this machine's own member says it has
	// had no leader for longer than an election takes): reads that may
	// fall back to a member's own copy then do so at once (see stale.go).
	// It is called once per such read and must be cheap.
	QuorumLost func() bool
}

// Client is a connection to one etcd cluster, safe for concurrent use. One
// Client per process is the intended use: a single gRPC connection carries
// all requests and watches.
type Client struct {
	cli      *clientv3.Client
	log      *slog.Logger
	logFile  io.Closer // nil when client logs are discarded
	attempts attemptTimer

	leases   leaseCache              // for disappearing messages (lease.go)
	batchMu  sync.Mutex              // guards batchers
	batchers map[names.Room]*batcher // group commit per room (batch.go)
	stale    staleState              // see stale.go
	// quorumLost is Config.QuorumLost; immutable after Open.
	quorumLost func() bool
}

// Open connects to the cluster in cfg. Connecting is lazy in etcd's client:
// Open fails only on bad configuration; an unreachable cluster shows up as
// ErrUnavailable from the first call.
func Open(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("open etcd client: no endpoints")
	}
	eps := make([]string, 0, len(cfg.Endpoints))
	for _, e := range cfg.Endpoints {
		e = strings.TrimSpace(e)
		if e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("open etcd client: no endpoints")
	}
	dt := cfg.DialTimeout
	if dt == 0 {
		dt = 5 * time.Second
	}
	zl, closer, err := fileLogger(cfg.LogFile)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          dt,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zl,
		MaxCallSendMsgSize:   maxRequestBytes + 64*1024,
		PermitWithoutStream:  true,
		// gRPC's default reconnect backoff grows to two minutes; a chat
		// client whose member restarts must be back within seconds.
		DialOptions: append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})}, cfg.DialOptions...),
	})
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, fmt.Errorf("open etcd client for %s: %w", strings.Join(eps, ","), mapErr(err))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cli: cli, log: log, logFile: closer, quorumLost: cfg.QuorumLost}, nil
}

func fileLogger(path string) (*zap.Logger, io.Closer, error) {
	if path == "" {
		return zap.NewNop(), nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open etcd client log: %w", err)
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := zapcore.NewCore(enc, zapcore.AddSync(f), zap.WarnLevel)
	return zap.New(core), f, nil
}

// Close releases the connection. Watches end.
func (c *Client) Close() error {
	err := c.cli.Close()
	if c.logFile != nil {
		c.logFile.Close()
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Endpoints returns the endpoints the client was configured with.
func (c *Client) Endpoints() []string { return c.cli.Endpoints() }

// EndpointHealth is what one endpoint answered to a status probe.
type EndpointHealth struct {
	Endpoint string
	OK       bool
	Leader   bool
	// NoLeader reports that the member answered but knows no leader:
	// while every member that answers says so, the cluster has no quorum.
	NoLeader bool
	Err      error
}

// Health probes every configured endpoint concurrently, each bounded by ctx.
func (c *Client) Health(ctx context.Context) []EndpointHealth {
	eps := c.cli.Endpoints()
	out := make([]EndpointHealth, len(eps))
	done := make(chan struct{}, len(eps))
	for i, ep := range eps {
		go func() {
			defer func() { done <- struct{}{} }()
			st, err := c.cli.Status(ctx, ep)
			out[i] = EndpointHealth{Endpoint: ep, Err: mapErr(err)}
			if err == nil {
				out[i].OK = true
				out[i].Leader = st.Leader == st.Header.MemberId
				out[i].NoLeader = st.Leader == 0
			}
		}()
	}
	for range eps {
		<-done
	}
	return out
}
