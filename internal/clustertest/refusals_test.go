//go:build unix

package clustertest

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

// TestJoinRefusals plays the machines a cluster must refuse, each with
// its own message and exit code: an invitation whose CA digest was
// tampered with (and a man in the middle, who must not see the secret),
// a wrong secret, a used, an expired and a revoked invitation, and the
// certificate of a machine that was removed; and the TLS mistakes a
// client can make: another CA, no certificate, http for https.
func TestJoinRefusals(t *testing.T) {
	h := newHarness(t)
	a := h.machine("alpha", "127.0.0.2")
	a.host()
	a.must("--user", "alice", "create", "general")

	// The digest names the cluster: a token with another digest is
	// refused before anything secret is sent, and stays usable.
	good := a.invite("--as", "client")
	tok, err := node.ParseToken(good)
	if err != nil {
		t.Fatal(err)
	}
	tampered := tok
	tampered.Digest[0] ^= 1
	x := h.machine("xray", "127.0.0.6")
	errOut := x.fails(10, "join-cluster", tampered.String(), "--name", "xray")
	if !strings.Contains(errOut, "none of them the invitation's CA") || !strings.Contains(errOut, "nothing secret was sent") {
		t.Errorf("tampered digest: %s", errOut)
	}

	// A man in the middle: the invitation's address answers with another
	// certificate. It must see a handshake, never a request.
	mitm, requests := fakeTLSServer(t, "127.0.0.7")
	redirected := tok
	redirected.Endpoints = []string{mitm}
	errOut = x.fails(10, "join-cluster", redirected.String(), "--name", "xray")
	if n := requests.Load(); n != 0 {
		t.Errorf("the man in the middle got %d requests", n)
	}
	if !strings.Contains(errOut, "someone is intercepting") {
		t.Errorf("man in the middle: %s", errOut)
	}

	// A wrong secret.
	wrong := tok
	wrong.Secret = append([]byte(nil), tok.Secret...)
	wrong.Secret[0] ^= 1
	if errOut := x.fails(6, "join-cluster", wrong.String(), "--name", "xray"); !strings.Contains(errOut, "not recognised") {
		t.Errorf("wrong secret: %s", errOut)
	}
	// The real invitation still works, once.
	b := h.machine("bravo", "127.0.0.3")
	b.must("join-cluster", good, "--name", "bravo")
	b.must("--user", "bob", "rooms")
	c := h.machine("charlie", "127.0.0.4")
	if errOut := c.fails(8, "join-cluster", good, "--name", "charlie"); !strings.Contains(errOut, "already used") {
		t.Errorf("used invitation: %s", errOut)
	}

	// Expired.
	short := a.invite("--as", "client", "--ttl", "1s")
	shortTok, _ := node.ParseToken(short)
	waitFor(t, 10*time.Second, "the invitation to expire", func() bool {
		out, _, _ := a.run("invite", "list", "--json")
		return regexp.MustCompile(`"id":"` + shortTok.ID + `"[^}]*"state":"expired"`).MatchString(out)
	})
	if errOut := c.fails(7, "join-cluster", short, "--name", "charlie"); !strings.Contains(errOut, "expired") {
		t.Errorf("expired invitation: %s", errOut)
	}

	// Revoked.
	rev := a.invite("--as", "client")
	revTok, _ := node.ParseToken(rev)
	a.must("invite", "revoke", revTok.ID)
	if errOut := c.fails(9, "join-cluster", rev, "--name", "charlie"); !strings.Contains(errOut, "revoked") {
		t.Errorf("revoked invitation: %s", errOut)
	}
	list := a.must("invite", "list")
	for _, want := range []string{revTok.ID + "  client  revoked", shortTok.ID + "  client  expired", tok.ID + "  client  used"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(regexp.MustCompile(` +`).ReplaceAllString(list, "  ")) {
			t.Errorf("invite list lacks %q:\n%s", want, list)
		}
	}

	// A learner member, then removed: its member stops, and neither it
	// nor the client removed next gets in with its certificate again.
	d := h.machine("delta", "127.0.0.5")
	d.joinMember(a.invite("--as", "learner"), false)
	d.must("--user", "dave", "rooms")
	a.must("cluster", "remove", "delta")
	if line, _ := d.p.waitStderr(regexp.MustCompile(`removed from the cluster`), 30*time.Second); line == "" {
		t.Errorf("the removed member did not stop: %s", d.p.stderrText())
	}
	a.must("cluster", "remove", "bravo")
	for _, m := range []*machine{b, d} {
		var errOut string
		waitFor(t, 20*time.Second, m.name+"'s certificate to be refused", func() bool {
			_, e, code := m.run("--user", "someone", "rooms", "--timeout", "3s")
			errOut = e
			return code == 4
		})
		if !strings.Contains(errOut, "rejected this machine's client certificate") {
			t.Errorf("%s after its removal: %s", m.name, errOut)
		}
	}
	// Its certificate does not open the invitation endpoint either.
	bc, err := tls.LoadX509KeyPair(filepath.Join(b.home, "cluster", "cert.pem"), filepath.Join(b.home, "cluster", "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", a.addr(2), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{bc}}) //nolint:gosec // probing
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Errorf("invitation endpoint with a revoked certificate: %v", err)
	}

	// TLS mistakes of a client, each named.
	eps := "https://" + a.addr(0)
	other, err := node.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(h.dir, "other-ca.pem")
	if err := os.WriteFile(otherCA, other.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	e := h.machine("echo", "127.0.0.8")
	aCA, aCert, aKey := filepath.Join(a.home, "cluster", "ca.pem"), filepath.Join(a.home, "cluster", "cert.pem"), filepath.Join(a.home, "cluster", "key.pem")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown CA", []string{"--endpoints", eps, "--cacert", otherCA, "--cert", aCert, "--key", aKey}, 10, "not signed by this cluster's CA"},
		{"no client certificate", []string{"--endpoints", eps, "--cacert", aCA}, 4, "requires a client certificate"},
		{"http against https", []string{"--endpoints", "http://" + a.addr(0)}, 1, "it speaks TLS"},
	} {
		_, errOut, code := e.run(append(tc.args, "--user", "eve", "rooms", "--timeout", "3s")...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, want %d: %s", tc.name, code, tc.code, errOut)
		}
	}
}

// fakeTLSServer serves TLS on ip with a certificate of its own CA and
// counts the HTTP requests it receives.
func fakeTLSServer(t *testing.T, ip string) (addr string, requests *atomic.Int64) {
	t.Helper()
	ca, err := node.NewCA("impostor")
	if err != nil {
		t.Fatal(err)
	}
	key, csrDER, err := node.NewKeyAndCSR("impostor", []net.IP{net.ParseIP(ip)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := node.ParseCSR(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := node.NewSerial()
	cert, err := ca.Issue(csr, "impostor", node.CertMember, serial)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	requests = new(atomic.Int64)
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}},
	}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), requests
}
