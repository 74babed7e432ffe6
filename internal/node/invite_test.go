package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/node"
)

func TestTokenRoundTrip(t *testing.T) {
	ca, err := node.NewCA("t")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := node.NewToken(ca.Digest(), []string{"10.0.0.1:2381", "[fd00::2]:2381"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := node.ParseToken("  " + tok.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Digest.Equal(tok.Digest) || got.ID != tok.ID || !bytes.Equal(got.Secret, tok.Secret) || strings.Join(got.Endpoints, ",") != strings.Join(tok.Endpoints, ",") {
		t.Fatalf("ParseToken(String()) = %+v, want %+v", got, tok)
	}
	if !bytes.Equal(tok.SecretHash(), node.HashSecret(tok.Secret)) || bytes.Equal(tok.SecretHash(), tok.Secret) {
		t.Fatal("SecretHash")
	}
	s := tok.String()
	for _, bad := range []string{
		"", "hello", strings.Replace(s, "parley1:", "parley2:", 1), s[:strings.Index(s, "@")],
		strings.Replace(s, "@10.0.0.1:2381", "@10.0.0.1", 1), strings.Replace(s, ":2381,", ":0,", 1),
		strings.Replace(s, tok.ID, "XYZ", 1), strings.Replace(s, tok.Digest.String(), "00", 1),
	} {
		if _, err := node.ParseToken(bad); !errors.Is(err, node.ErrTokenMalformed) {
			t.Errorf("ParseToken(%q) = %v, want ErrTokenMalformed", bad, err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	ca, _ := node.NewCA("t")
	tok, _ := node.NewToken(ca.Digest(), []string{"10.0.0.1:2381"})
	f.Add(tok.String())
	f.Add("parley1:00:11:22@a:1")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := node.ParseToken(s)
		if err != nil {
			return
		}
		again, err := node.ParseToken(tok.String())
		if err != nil || again.String() != tok.String() {
			t.Fatalf("%q: round trip %q, %v", s, again.String(), err)
		}
	})
}

// TestCAIssue checks the certificates the CA makes: a member's serves and
// connects, for its addresses; a client's only connects; a forged
// request is refused; the revocation list names what it revokes.
func TestCAIssue(t *testing.T) {
	ca, err := node.NewCA("t")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	_, csrDER, err := node.NewKeyAndCSR("m1", []net.IP{net.ParseIP("10.0.0.1")}, []string{"m1.example"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := node.ParseCSR(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role  node.CertRole
		usage []x509.ExtKeyUsage
		ok    bool
	}{
		{node.CertMember, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, true},
		{node.CertMember, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true},
		{node.CertClient, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, true},
		{node.CertClient, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, false},
	} {
		serial, _ := node.NewSerial()
		chain, err := ca.Issue(csr, "m1", tc.role, serial)
		if err != nil {
			t.Fatal(err)
		}
		certs := parseChain(t, chain)
		if len(certs) != 2 || !certs[1].Equal(ca.Certificate()) {
			t.Fatalf("chain of %d certificates, want the leaf and the CA", len(certs))
		}
		opts := x509.VerifyOptions{Roots: pool, KeyUsages: tc.usage}
		if tc.role == node.CertMember && tc.usage[0] == x509.ExtKeyUsageServerAuth {
			opts.DNSName = "10.0.0.1"
		}
		if _, err := certs[0].Verify(opts); (err == nil) != tc.ok {
			t.Errorf("role %d, usage %v: Verify = %v, want ok=%v", tc.role, tc.usage, err, tc.ok)
		}
	}
	bad := bytes.Clone(csrDER)
	bad[len(bad)-3] ^= 1
	if _, err := node.ParseCSR(bad); err == nil {
		t.Error("a request with a broken signature parsed")
	}
	serial, _ := node.NewSerial()
	der, err := ca.CRL([]string{node.SerialString(serial)}, 2)
	if err != nil {
		t.Fatal(err)
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil || l.CheckSignatureFrom(ca.Certificate()) != nil || len(l.RevokedCertificateEntries) != 1 || l.RevokedCertificateEntries[0].SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("CRL: %v", err)
	}
	keyPEM, _ := ca.KeyPEM()
	if again, err := node.ParseCA(ca.PEM(), keyPEM); err != nil || !again.HasKey() || !again.Digest().Equal(ca.Digest()) {
		t.Fatalf("ParseCA: %v", err)
	}
	other, _ := node.NewCA("u")
	otherKey, _ := other.KeyPEM()
	if _, err := node.ParseCA(ca.PEM(), otherKey); err == nil {
		t.Error("a CA with another CA's key parsed")
	}
}

func parseChain(t *testing.T, p []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, p = pem.Decode(p)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// TestBootstrap runs an invitation endpoint: a joiner that checks the
// digest gets its certificate and the sealed CA key; a refusal comes back
// as its error; a wrong digest is found before any request is sent.
func TestBootstrap(t *testing.T) {
	ca, err := node.NewCA("t")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrDER, _ := node.NewKeyAndCSR("host", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	csr, _ := node.ParseCSR(csrDER)
	serial, _ := node.NewSerial()
	chain, _ := ca.Issue(csr, "host", node.CertMember, serial)
	cert, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	refuse := atomic.Pointer[error]{}
	b, err := node.NewBootstrap(node.BootstrapConfig{CA: ca, Cert: cert, Admit: func(ctx context.Context, a node.Admission) (node.Admitted, error) {
		calls.Add(1)
		if e := refuse.Load(); e != nil {
			return node.Admitted{}, *e
		}
		return node.Admitted{Name: a.Name, Role: node.RoleVoter, ClientURLs: []string{"https://127.0.0.1:1"}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(l) }()
	defer func() {
		b.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok, _ := node.NewToken(ca.Digest(), []string{l.Addr().String()})
	_, joinCSR, _ := node.NewKeyAndCSR("joiner", []net.IP{net.ParseIP("127.0.0.2")}, nil)
	resp, err := node.RequestJoin(ctx, tok, node.JoinRequest{CSR: joinCSR, Name: "joiner"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Name != "joiner" || resp.Role != node.RoleVoter || len(resp.CAKey) == 0 {
		t.Fatalf("response %+v", resp)
	}
	if got, err := node.ParseCA(resp.CA, resp.CAKey); err != nil || !got.Digest().Equal(ca.Digest()) {
		t.Fatalf("the CA key did not come through: %v", err)
	}
	for _, e := range []error{node.ErrTokenUsed, node.ErrTokenExpired, node.ErrTokenRevoked, node.ErrTokenWrong} {
		refuse.Store(&e)
		if _, err := node.RequestJoin(ctx, tok, node.JoinRequest{CSR: joinCSR, Name: "joiner"}); !errors.Is(err, e) {
			t.Errorf("refused with %v: RequestJoin = %v", e, err)
		}
	}
	before := calls.Load()
	wrong := tok
	wrong.Digest[3] ^= 0x40
	if _, err := node.RequestJoin(ctx, wrong, node.JoinRequest{CSR: joinCSR, Name: "joiner"}); !errors.Is(err, node.ErrDigestMismatch) {
		t.Errorf("wrong digest: RequestJoin = %v", err)
	}
	if calls.Load() != before {
		t.Error("a joiner with the wrong digest sent its request")
	}
}

func TestMachineAddrs(t *testing.T) {
	ips, err := node.MachineAddrs()
	if err != nil {
		t.Skipf("no network address: %v", err)
	}
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			t.Errorf("MachineAddrs returned %v, which other machines cannot reach", ip)
		}
	}
}
