package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/parley-chat/parley/internal/node"
)

// TestClaimLocalMovesHistory moves a home's shared loopback member into
// a TLS member of a cluster of machines: the same data, restarted under
// the machine's name on https URLs, its peer URLs updated in the
// membership; the shared member is never started on it again.
func TestClaimLocalMovesHistory(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	sh, err := node.Local(ctx, home, nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: sh.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "history", "kept"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}

	claim, err := node.ClaimLocal(home)
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	if _, err := node.ClaimLocal(home); !errors.Is(err, node.ErrLocalBusy) {
		t.Fatalf("second ClaimLocal = %v, want ErrLocalBusy", err)
	}
	dir := t.TempDir()
	ca, err := node.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrDER, err := node.NewKeyAndCSR("alice", []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := node.ParseCSR(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := node.NewSerial()
	certPEM, err := ca.Issue(csr, "alice", node.CertMember, serial)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := ca.CRL(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"ca.pem": ca.PEM(), "node.pem": certPEM, "node-key.pem": keyPEM, "crl.der": crl}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	urls, err := node.FreeLoopbackURLs(2)
	if err != nil {
		t.Fatal(err)
	}
	clientURL := strings.Replace(urls[0], "http:", "https:", 1)
	peerURL := strings.Replace(urls[1], "http:", "https:", 1)
	f := func(n string) string { return filepath.Join(dir, n) }
	n, err := node.Start(ctx, node.Config{
		Name: "alice", DataDir: claim.DataDir(), LogFile: claim.LogFile(),
		ListenClientURLs: []string{clientURL}, ListenPeerURLs: []string{peerURL},
		CertFile: f("node.pem"), KeyFile: f("node-key.pem"), TrustedCAFile: f("ca.pem"), ClientCertAuth: true,
		PeerCertFile: f("node.pem"), PeerKeyFile: f("node-key.pem"), PeerTrustedCAFile: f("ca.pem"), PeerClientCertAuth: true,
		CRLFile: f("crl.der"), UnsafeNoFsync: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	tcli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer tcli.Close()
	resp, err := tcli.Get(ctx, "history")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Fatalf("history after the move: %v %v", resp, err)
	}
	adm, err := node.OpenAdmin(node.AdminConfig{Endpoints: []string{clientURL},
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.UpdatePeerURLs(ctx, n.ID(), []string{peerURL}); err != nil {
		t.Fatal(err)
	}
	ml, err := tcli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 1 || ml.Members[0].Name != "alice" || ml.Members[0].PeerURLs[0] != peerURL || ml.Members[0].ClientURLs[0] != clientURL {
		t.Fatalf("members after the move: %v", ml.Members)
	}
	if err := claim.MarkHosted(); err != nil {
		t.Fatal(err)
	}
	claim.Close()
	if _, err := node.Local(ctx, home, nil); !errors.Is(err, node.ErrHosted) {
		t.Fatalf("Local on a hosted home = %v, want ErrHosted", err)
	}
}
