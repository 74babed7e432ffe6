package node

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Validity of the certificates a cluster's CA makes. There is no renewal
// yet: a certificate lasts as long as a machine is expected to stay, and
// the revocation list, not expiry, is how a machine is shut out.
const (
	caValidity   = 20 * 365 * 24 * time.Hour
	leafValidity = 10 * 365 * 24 * time.Hour
	// clockSkew backdates every certificate, so that a machine whose clock
	// is a little behind accepts it at once.
	clockSkew = time.Hour
)

// CertRole says what a certificate may do.
type CertRole int

const (
	// CertMember certifies a machine that runs an etcd member: it serves
	// clients and peers and connects to peers, so it has both the server
	// and the client extended key usages and the machine's addresses as
	// subject alternative names.
	CertMember CertRole = iota
	// CertClient certifies a machine that only talks to the cluster.
	CertClient
)

// CA is a cluster's certificate authority: its certificate, and its key
// when this machine holds it. It is immutable after construction and safe
// for concurrent use.
type CA struct {
	cert *x509.Certificate
	pem  []byte        // the certificate, PEM
	key  crypto.Signer // nil if this machine has no copy of the key
}

// NewCA creates a CA with a new ECDSA P-256 key, named after the cluster.
func NewCA(cluster string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("node: new CA: %w", err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "parley cluster CA " + cluster, Organization: []string{"parley"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("node: new CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("node: new CA: %w", err)
	}
	return &CA{cert: cert, pem: pemBlock("CERTIFICATE", der), key: key}, nil
}

// ParseCA reads a CA certificate and, if keyPEM is not empty, its key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("node: CA certificate: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("node: CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("node: CA certificate: not a CA")
	}
	ca := &CA{cert: cert, pem: pemBlock("CERTIFICATE", b.Bytes)}
	if len(keyPEM) == 0 {
		return ca, nil
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node: CA key: %w", err)
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("node: CA key does not match the CA certificate")
	}
	ca.key = key
	return ca, nil
}

// LoadCA reads a CA from files; keyFile may be empty.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("node: read CA: %w", err)
	}
	var keyPEM []byte
	if keyFile != "" {
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return nil, fmt.Errorf("node: read CA key: %w", err)
		}
	}
	return ParseCA(certPEM, keyPEM)
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// PEM returns the CA's certificate in PEM.
func (ca *CA) PEM() []byte { return slices.Clone(ca.pem) }

// HasKey reports whether this machine holds the CA's key and so can sign.
func (ca *CA) HasKey() bool { return ca.key != nil }

// KeyPEM returns the CA's key in PEM (PKCS #8), or an error if this
// machine has none.
func (ca *CA) KeyPEM() ([]byte, error) {
	if ca.key == nil {
		return nil, errors.New("node: this machine has no copy of the CA key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// Digest returns the SHA-256 digest of the CA certificate (DER), the
// cluster's identity that an invitation carries.
func (ca *CA) Digest() Digest { return sha256.Sum256(ca.cert.Raw) }

// Digest is the SHA-256 digest of a CA certificate.
type Digest [sha256.Size]byte

// String returns the digest in lowercase hexadecimal.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Equal compares in constant time.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// ParseDigest parses a digest in hexadecimal.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("bad CA digest %q", s)
	}
	copy(d[:], b)
	return d, nil
}

// NewSerial returns a random 128-bit certificate serial number.
func NewSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("node: certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never 0
}

// SerialString is the form certificate serials take in records and
// revocation lists: lowercase hexadecimal.
func SerialString(s *big.Int) string { return s.Text(16) }

// CSR is a certificate request: a machine's new key stays on the machine;
// only the request travels.
type CSR struct {
	req *x509.CertificateRequest
}

// NewKeyAndCSR creates an ECDSA P-256 key and a certificate request for
// it naming the machine and, for a member, the addresses it serves on. It
// returns the key in PEM and the request.
func NewKeyAndCSR(name string, ips []net.IP, dnsNames []string) (keyPEM []byte, csr []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("node: new key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: name},
		IPAddresses: ips,
		DNSNames:    dnsNames,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("node: certificate request: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("PRIVATE KEY", kder), der, nil
}

// ParseCSR parses a DER certificate request and checks its signature.
func ParseCSR(der []byte) (*CSR, error) {
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if _, ok := req.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, errors.New("certificate request: want an ECDSA key")
	}
	for _, d := range req.DNSNames {
		if d == "" || strings.ContainsAny(d, "*/ ") {
			return nil, fmt.Errorf("certificate request: bad DNS name %q", d)
		}
	}
	if len(req.IPAddresses)+len(req.DNSNames) > 32 {
		return nil, errors.New("certificate request: too many names")
	}
	return &CSR{req: req}, nil
}

// IPs returns the addresses the request asks to be certified for.
func (c *CSR) IPs() []net.IP { return slices.Clone(c.req.IPAddresses) }

// Issue signs a certificate for the request, named name, with the given
// serial, for a member or a client. It returns the certificate followed by
// the CA's, in PEM: the chain a machine presents, so that whoever checks
// an invitation's digest finds the CA in it.
func (ca *CA) Issue(c *CSR, name string, role CertRole, serial *big.Int) ([]byte, error) {
	if ca.key == nil {
		return nil, errors.New("node: this machine has no copy of the CA key")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"parley"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if role == CertMember {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = c.req.IPAddresses
		tmpl.DNSNames = c.req.DNSNames
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, c.req.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("node: issue certificate for %q: %w", name, err)
	}
	return append(pemBlock("CERTIFICATE", der), ca.pem...), nil
}

// CRL returns a revocation list naming the given serials (hexadecimal, as
// [SerialString] writes them), signed by the CA, in DER, the form etcd
// reads. etcd reads it afresh for every connection and refuses
// certificates it names, from clients and from peers alike.
func (ca *CA) CRL(serials []string, number int64) ([]byte, error) {
	if ca.key == nil {
		return nil, errors.New("node: this machine has no copy of the CA key")
	}
	now := time.Now()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		n, ok := new(big.Int).SetString(s, 16)
		if !ok {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: now})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.Add(-clockSkew),
		NextUpdate:                now.Add(caValidity),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("node: revocation list: %w", err)
	}
	return der, nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func parseKey(p []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("want an ECDSA key")
	}
	return s, nil
}
