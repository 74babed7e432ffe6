package cli

import (
	"context"
	"crypto/tls"
	"strings"

	"time"

	"github.com/parley-chat/parley/internal/store"
)

// etcd's client waits for a usable connection until the command's
// deadline, and then says only that the deadline passed. When the reason
// is TLS (another CA, a missing or revoked certificate, http against
// https), nothing will change by waiting: a probe of the endpoints runs
// beside the command, and if every endpoint it reaches fails for a TLS
// reason, it ends the command at once and the error says why.

// tlsProbe is one probe of a connection's endpoints. Its owner (App)
// stops it before exiting.
type tlsProbe struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    *store.TLSError // set before done is closed
}

// startProbe probes eps with cfg in the background, if they use TLS (or
// might wrongly not). A TLS failure aborts the command's context.
func (a *App) startProbe(eps []string, cfg *tls.Config) {
	if a.probe != nil || len(eps) == 0 {
		return
	}
	tlsInUse := cfg != nil
	for _, e := range eps {
		tlsInUse = tlsInUse || strings.HasPrefix(e, "https://")
	}
	if !tlsInUse {
		return // a plain cluster: explain probes it after a failure
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	p := &tlsProbe{cancel: cancel, done: make(chan struct{})}
	a.probe = p
	abort := a.abort
	go func() {
		te, _ := store.ProbeTLS(ctx, eps, cfg).(*store.TLSError)
		p.err = te
		close(p.done) // before abort: the command's error is explained by found
		if te != nil && abort != nil {
			abort(te)
		}
	}()
}

// found returns the TLS failure the probe found, if it has finished.
func (p *tlsProbe) found() *store.TLSError {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// stop ends the probe and waits for it.
func (p *tlsProbe) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}
