package node

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// The invitation endpoint: every machine that runs a member and holds the
// CA key serves it, over TLS with the member's certificate, on its own
// port. It is the one listener that accepts a connection without a client
// certificate, and it does only one thing: a machine that proves it holds
// an invitation's secret sends a certificate request and gets back a
// certificate signed by the cluster's CA, and, if it is to run a member,
// a copy of the CA key sealed under the secret. A client certificate,
// when one is presented, must not be revoked.
//
// The joiner never sends the secret before it has checked that the
// endpoint's certificate chain contains the CA the invitation names: see
// [RequestJoin].

// joinPath is the endpoint's only path.
const joinPath = "/parley/v2/join"

// CAKeyWrapLabel is the HKDF info under which the CA key is sealed to an
// invitation's secret.
const CAKeyWrapLabel = "parley/v2/ca-key-wrap"

// maxJoinRequest bounds a request body.
const maxJoinRequest = 64 << 10

// JoinRequest is what a joining machine sends.
type JoinRequest struct {
	TokenID string `json:"token_id"`
	Secret  []byte `json:"secret"`
	// CSR is the machine's certificate request (DER).
	CSR []byte `json:"csr"`
	// Name is the machine name it asks for; the cluster may add a suffix
	// to keep names unique.
	Name     string `json:"name"`
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
}

// JoinResponse is what an admitted machine gets back.
type JoinResponse struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Cert is the machine's certificate followed by the CA's, in PEM.
	Cert []byte `json:"cert"`
	// CA is the CA certificate in PEM.
	CA []byte `json:"ca"`
	// CAKey is the CA key, sealed under the invitation's secret, for a
	// machine that runs a member; empty otherwise.
	CAKey []byte `json:"ca_key,omitempty"`
	// CRL is the current revocation list (DER), for a member.
	CRL []byte `json:"crl,omitempty"`
	// ClientURLs are the members' client URLs; JoinURLs their invitation
	// endpoints.
	ClientURLs []string `json:"client_urls"`
	JoinURLs   []string `json:"join_urls,omitempty"`
	// Raft timing every member of the cluster uses, and the most voters
	// the cluster wants.
	HeartbeatMs int    `json:"heartbeat_ms,omitempty"`
	ElectionMs  int    `json:"election_ms,omitempty"`
	MaxVoters   int    `json:"max_voters,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
}

// joinError is the body of a refusal.
type joinError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

// Refusal codes on the wire, one per invitation error.
var refusalCodes = map[string]error{
	"token-wrong":   ErrTokenWrong,
	"token-expired": ErrTokenExpired,
	"token-used":    ErrTokenUsed,
	"token-revoked": ErrTokenRevoked,
	"cert-revoked":  ErrCertRevoked,
}

// ErrCertRevoked means a certificate the cluster revoked was presented.
var ErrCertRevoked = errors.New("certificate revoked by the cluster")

// Admission is a join request the invitation endpoint checked: the CSR
// parsed and its signature verified. Admit decides on the token.
type Admission struct {
	TokenID    string
	SecretHash []byte
	Name       string
	Hostname   string
	OS         string
	// Serial is the serial the machine's certificate will have.
	Serial string
}

// Admitted is what Admit returns for an admitted machine.
type Admitted struct {
	Name       string // the machine's name in the cluster
	Role       string
	ClientURLs []string
	JoinURLs   []string
	Heartbeat  time.Duration
	Election   time.Duration
	MaxVoters  int
	Cluster    string
	// CRL is the current revocation list (DER).
	CRL []byte
}

// BootstrapConfig configures an invitation endpoint.
type BootstrapConfig struct {
	// CA signs the certificates; it must hold its key.
	CA *CA
	// Cert is the certificate the endpoint serves: the member's, whose
	// chain includes the CA.
	Cert tls.Certificate
	// Admit consumes the invitation (in one etcd transaction) and records
	// the machine. Its errors that wrap ErrTokenWrong, ErrTokenExpired,
	// ErrTokenUsed or ErrTokenRevoked are reported to the joiner as such;
	// others as an internal error. It must be safe for concurrent use.
	Admit func(ctx context.Context, a Admission) (Admitted, error)
	// Revoked reports whether a certificate was revoked; nil means none
	// is. It must be safe for concurrent use.
	Revoked func(*x509.Certificate) bool
	// Log receives a line per request; nil discards them.
	Log *slog.Logger
}

// Bootstrap is a running invitation endpoint.
type Bootstrap struct {
	cfg BootstrapConfig
	srv *http.Server
}

// NewBootstrap returns an invitation endpoint; Serve runs it.
func NewBootstrap(cfg BootstrapConfig) (*Bootstrap, error) {
	if cfg.CA == nil || !cfg.CA.HasKey() {
		return nil, errors.New("node: an invitation endpoint needs the CA key")
	}
	if cfg.Admit == nil {
		return nil, errors.New("node: an invitation endpoint needs Admit")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	b := &Bootstrap{cfg: cfg}
	pool := x509.NewCertPool()
	pool.AddCert(cfg.CA.Certificate())
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cfg.Cert},
		// A joiner has no certificate yet; one that shows one must show a
		// valid, unrevoked one.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if cfg.Revoked == nil {
				return nil
			}
			for _, ch := range chains {
				if len(ch) > 0 && cfg.Revoked(ch[0]) {
					return ErrCertRevoked
				}
			}
			return nil
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+joinPath, b.handleJoin)
	b.srv = &http.Server{
		Handler:           mux,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return b, nil
}

// Serve accepts connections on l until Close; it returns nil after Close.
func (b *Bootstrap) Serve(l net.Listener) error {
	err := b.srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the endpoint, waiting up to 5 s for requests in progress.
func (b *Bootstrap) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if err != nil {
		err = b.srv.Close()
	}
	return err
}

func (b *Bootstrap) refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(joinError{Code: code, Message: msg})
}

func (b *Bootstrap) handleJoin(w http.ResponseWriter, r *http.Request) {
	log := b.cfg.Log.With("remote", r.RemoteAddr)
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxJoinRequest)).Decode(&req); err != nil {
		b.refuse(w, http.StatusBadRequest, "bad-request", "malformed join request")
		return
	}
	if !ValidTokenID(req.TokenID) || len(req.Secret) != tokenSecretLen {
		log.Info("join refused: malformed token")
		b.refuse(w, http.StatusForbidden, "token-wrong", ErrTokenWrong.Error())
		return
	}
	csr, err := ParseCSR(req.CSR)
	if err != nil {
		b.refuse(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	serial, err := NewSerial()
	if err != nil {
		b.refuse(w, http.StatusInternalServerError, "internal", "no serial")
		return
	}
	ad, err := b.cfg.Admit(r.Context(), Admission{
		TokenID: req.TokenID, SecretHash: HashSecret(req.Secret),
		Name: req.Name, Hostname: req.Hostname, OS: req.OS, Serial: SerialString(serial),
	})
	if err != nil {
		for code, e := range refusalCodes {
			if errors.Is(err, e) {
				log.Info("join refused", "token", req.TokenID, "why", code)
				b.refuse(w, http.StatusForbidden, code, e.Error())
				return
			}
		}
		log.Error("join failed", "token", req.TokenID, "err", err)
		b.refuse(w, http.StatusServiceUnavailable, "internal", fmt.Sprintf("the member could not admit the machine: %v", err))
		return
	}
	role := CertClient
	if RunsMember(ad.Role) {
		role = CertMember
	}
	cert, err := b.cfg.CA.Issue(csr, ad.Name, role, serial)
	if err != nil {
		log.Error("join failed", "token", req.TokenID, "err", err)
		b.refuse(w, http.StatusInternalServerError, "internal", "could not sign the certificate")
		return
	}
	resp := JoinResponse{
		Name: ad.Name, Role: ad.Role, Cert: cert, CA: b.cfg.CA.PEM(),
		ClientURLs: ad.ClientURLs, JoinURLs: ad.JoinURLs,
		HeartbeatMs: int(ad.Heartbeat / time.Millisecond), ElectionMs: int(ad.Election / time.Millisecond),
		MaxVoters: ad.MaxVoters, Cluster: ad.Cluster,
	}
	if RunsMember(ad.Role) {
		keyPEM, err := b.cfg.CA.KeyPEM()
		if err == nil {
			resp.CAKey, err = sealCAKey(req.Secret, keyPEM)
		}
		if err != nil {
			b.refuse(w, http.StatusInternalServerError, "internal", "could not seal the CA key")
			return
		}
		resp.CRL = ad.CRL
	}
	log.Info("machine admitted", "token", req.TokenID, "name", ad.Name, "role", ad.Role)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// sealCAKey seals the CA key to an invitation's secret.
func sealCAKey(secret, keyPEM []byte) ([]byte, error) {
	aead, err := caKeyAEAD(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(keyPEM)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, keyPEM, []byte(CAKeyWrapLabel)), nil
}

// OpenCAKey opens a CA key sealed by the invitation endpoint.
func OpenCAKey(secret, sealed []byte) ([]byte, error) {
	aead, err := caKeyAEAD(secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("node: sealed CA key too short")
	}
	key, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(CAKeyWrapLabel))
	if err != nil {
		return nil, fmt.Errorf("node: open the CA key: %w", err)
	}
	return key, nil
}

func caKeyAEAD(secret []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, CAKeyWrapLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(k)
}

// DigestMismatchError reports the CA a machine presented instead of the
// one an invitation names.
type DigestMismatchError struct {
	Endpoint string
	Want     Digest
	Got      []Digest // digests of every certificate it presented
}

func (e *DigestMismatchError) Error() string {
	got := make([]string, len(e.Got))
	for i, d := range e.Got {
		got[i] = d.String()[:16] + "…"
	}
	return fmt.Sprintf("%s presented certificates with digests %s, none of them the invitation's CA %s…: the invitation is for another cluster, or someone is intercepting the connection; nothing secret was sent",
		e.Endpoint, strings.Join(got, ", "), e.Want.String()[:16])
}

func (e *DigestMismatchError) Unwrap() error { return ErrDigestMismatch }

// FetchCA connects to endpoint (host:port) over TLS without verifying
// anything, and returns the CA certificate in the chain it presents whose
// SHA-256 digest is want. Nothing is sent but a TLS handshake. A chain
// without it is a *DigestMismatchError.
func FetchCA(ctx context.Context, endpoint string, want Digest) (*x509.Certificate, error) {
	d := tls.Dialer{Config: &tls.Config{
		// Verification is by digest, below, before anything is sent.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return nil, fmt.Errorf("reach %s: %w", endpoint, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	mismatch := &DigestMismatchError{Endpoint: endpoint, Want: want}
	for _, c := range certs {
		got := Digest(sha256.Sum256(c.Raw))
		if got.Equal(want) && c.IsCA {
			return c, nil
		}
		mismatch.Got = append(mismatch.Got, got)
	}
	return nil, mismatch
}

// RefusedError is a refusal from an invitation endpoint.
type RefusedError struct {
	Endpoint string
	Code     string
	Message  string
}

func (e *RefusedError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code
}

// Unwrap returns the invitation error the code stands for.
func (e *RefusedError) Unwrap() error { return refusalCodes[e.Code] }

// RequestJoin asks the cluster of tok to admit this machine. For each of
// the token's endpoints in turn it first fetches the CA by digest
// ([FetchCA]); only then does it send the request, over a connection that
// verifies the endpoint's certificate against that CA. An endpoint that
// cannot be reached is skipped; a digest mismatch or a refusal ends the
// attempt at once. The sealed CA key in the response is opened.
func RequestJoin(ctx context.Context, tok Token, req JoinRequest) (*JoinResponse, error) {
	req.TokenID, req.Secret = tok.ID, tok.Secret
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ep := range tok.Endpoints {
		resp, err := requestJoinAt(ctx, ep, tok, body)
		if err == nil {
			return resp, nil
		}
		var dm *DigestMismatchError
		var re *RefusedError
		if errors.As(err, &dm) || errors.As(err, &re) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no invitation endpoint answered: %w", errors.Join(errs...))
}

func requestJoinAt(ctx context.Context, ep string, tok Token, body []byte) (*JoinResponse, error) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ca, err := FetchCA(actx, ep, tok.Digest)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	host, _, _ := net.SplitHostPort(ep)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+ep+joinPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("join at %s: %w", ep, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("join at %s: %w", ep, err)
	}
	if hresp.StatusCode != http.StatusOK {
		var je joinError
		if json.Unmarshal(data, &je) == nil && je.Code != "" {
			if _, known := refusalCodes[je.Code]; known {
				return nil, &RefusedError{Endpoint: ep, Code: je.Code, Message: je.Message}
			}
			return nil, fmt.Errorf("join at %s: %s", ep, je.Message)
		}
		return nil, fmt.Errorf("join at %s: %s", ep, hresp.Status)
	}
	var resp JoinResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("join at %s: bad response: %w", ep, err)
	}
	if !bytes.Equal(bytes.TrimSpace(resp.CA), bytes.TrimSpace(pemBlock("CERTIFICATE", ca.Raw))) {
		return nil, fmt.Errorf("join at %s: the response names another CA", ep)
	}
	if len(resp.CAKey) > 0 {
		key, err := OpenCAKey(tok.Secret, resp.CAKey)
		if err != nil {
			return nil, err
		}
		resp.CAKey = key
	}
	resp.ClientURLs = slices.Clone(resp.ClientURLs)
	return &resp, nil
}
