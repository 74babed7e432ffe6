package store

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// etcd's client hides why a connection failed: a request that cannot be
// sent waits for a connection until its deadline and reports only
// "context deadline exceeded". When the cause is TLS, ProbeTLS finds it by
// connecting to each endpoint itself, so that the error names it.

// TLSProblem is what went wrong with TLS.
type TLSProblem int

const (
	// TLSUnknownAuthority: the member's certificate is not signed by the
	// CA this client trusts (another cluster, or someone in between).
	TLSUnknownAuthority TLSProblem = iota + 1
	// TLSBadServerCert: the member's certificate is expired, or does not
	// name the address it was reached at.
	TLSBadServerCert
	// TLSNoClientCert: the member requires a client certificate and this
	// client has none.
	TLSNoClientCert
	// TLSClientCertRejected: the member refused this client's certificate
	// (revoked, expired, or from another CA).
	TLSClientCertRejected
	// TLSPlaintextServer: an https endpoint answered without TLS.
	TLSPlaintextServer
	// TLSServerWantsTLS: an http endpoint speaks TLS.
	TLSServerWantsTLS
)

// TLSError is a TLS failure ProbeTLS found at every endpoint it could
// reach.
type TLSError struct {
	Problem  TLSProblem
	Endpoint string
	Err      error
}

func (e *TLSError) Error() string {
	var what string
	switch e.Problem {
	case TLSUnknownAuthority:
		what = "its certificate is not signed by this cluster's CA (unknown authority): it is another cluster, or someone is in between"
	case TLSBadServerCert:
		what = "its certificate is not valid for this address or has expired"
	case TLSNoClientCert:
		what = "it requires a client certificate, and none is configured"
	case TLSClientCertRejected:
		what = "it rejected this machine's client certificate (revoked, expired, or from another cluster's CA)"
	case TLSPlaintextServer:
		what = "it does not speak TLS: use an http:// endpoint"
	case TLSServerWantsTLS:
		what = "it speaks TLS: use an https:// endpoint, with the cluster's CA and a client certificate"
	}
	return fmt.Sprintf("TLS: %s: %s (%v)", e.Endpoint, what, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// ProbeTLS connects to every endpoint with cfg (nil for http endpoints)
// and reports a *TLSError if every endpoint that could be reached failed
// for a TLS reason; nil if any endpoint accepted the connection, or none
// could be reached at all (that is for the caller's ErrUnavailable to
// say). Each attempt is bounded by ctx and by 3 s.
func ProbeTLS(ctx context.Context, endpoints []string, cfg *tls.Config) error {
	var mu sync.Mutex
	var found *TLSError
	ok := false
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		wg.Go(func() {
			te, accepted := probeOne(ctx, ep, cfg)
			mu.Lock()
			defer mu.Unlock()
			if accepted {
				ok = true
			}
			if te != nil && found == nil {
				found = te
			}
		})
	}
	wg.Wait()
	if ok || found == nil {
		return nil
	}
	return found
}

// probeOne returns the TLS problem of one endpoint, or accepted if it
// took the connection.
func probeOne(ctx context.Context, ep string, cfg *tls.Config) (te *TLSError, accepted bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	scheme, host := "", ep
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		scheme, host = u.Scheme, u.Host
	}
	useTLS := scheme == "https" || (scheme == "" && cfg != nil)
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false // down, not a TLS problem
	}
	defer raw.Close()
	defer context.AfterFunc(ctx, func() { raw.Close() })()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	if !useTLS {
		// Does the member speak TLS where plain HTTP/2 was expected?
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // only asks whether TLS is spoken
		if err := c.HandshakeContext(ctx); err == nil {
			return &TLSError{Problem: TLSServerWantsTLS, Endpoint: ep, Err: errors.New("TLS handshake succeeded")}, false
		}
		return nil, false
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg != nil {
		tc = cfg.Clone()
	}
	tc.NextProtos = nil
	if tc.ServerName == "" {
		h, _, _ := net.SplitHostPort(host)
		tc.ServerName = h
	}
	c := tls.Client(raw, tc)
	err = c.HandshakeContext(ctx)
	handshook := err == nil
	if err == nil {
		// With TLS 1.3 a client certificate is judged after the client's
		// handshake is done: the refusal comes with the first read.
		req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/version", nil)
		if err = req.Write(c); err == nil {
			var resp *http.Response
			if resp, err = http.ReadResponse(bufio.NewReader(c), req); err == nil {
				resp.Body.Close()
				return nil, true
			}
		}
	}
	hasCert := len(tc.Certificates) > 0 || tc.GetClientCertificate != nil
	if te := classifyTLS(ep, err, hasCert); te != nil || !handshook {
		return te, false
	}
	// etcd checks its revocation list once the handshake is done, and
	// closes the connection without a word.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		if hasCert {
			return &TLSError{Problem: TLSClientCertRejected, Endpoint: ep, Err: fmt.Errorf("connection closed after the TLS handshake: %w", err)}, false
		}
		return &TLSError{Problem: TLSNoClientCert, Endpoint: ep, Err: fmt.Errorf("connection closed after the TLS handshake: %w", err)}, false
	}
	return nil, false
}

// classifyTLS words a TLS error; nil if err is not about TLS.
func classifyTLS(ep string, err error, hasCert bool) *TLSError {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ve *tls.CertificateVerificationError
	msg := err.Error()
	switch {
	case errors.As(err, &ua):
		return &TLSError{Problem: TLSUnknownAuthority, Endpoint: ep, Err: err}
	case errors.As(err, &he), errors.As(err, &ci):
		return &TLSError{Problem: TLSBadServerCert, Endpoint: ep, Err: err}
	case errors.As(err, &ve):
		return &TLSError{Problem: TLSBadServerCert, Endpoint: ep, Err: err}
	case errors.As(err, &rh):
		return &TLSError{Problem: TLSPlaintextServer, Endpoint: ep, Err: err}
	case strings.Contains(msg, "remote error: tls: certificate required"),
		!hasCert && strings.Contains(msg, "remote error: tls: bad certificate"):
		return &TLSError{Problem: TLSNoClientCert, Endpoint: ep, Err: err}
	case strings.Contains(msg, "remote error: tls:"):
		return &TLSError{Problem: TLSClientCertRejected, Endpoint: ep, Err: err}
	}
	return nil
}
