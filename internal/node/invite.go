package node

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Roles a machine is invited as.
const (
	// RoleVoter runs an etcd member that joins as a learner and is
	// promoted to a voting member once it has caught up, while the
	// cluster has fewer voters than its limit.
	RoleVoter = "voter"
	// RoleLearner runs an etcd member that stays a learner: it holds a
	// copy of the data and serves reads, but never votes.
	RoleLearner = "learner"
	// RoleClient runs no member: the machine only talks to the cluster.
	RoleClient = "client"
)

// ValidRole reports whether r is one of the roles above.
func ValidRole(r string) bool { return r == RoleVoter || r == RoleLearner || r == RoleClient }

// RunsMember reports whether a machine of role r runs an etcd member.
func RunsMember(r string) bool { return r == RoleVoter || r == RoleLearner }

// Invitation errors, each its own cause for the joiner.
var (
	// ErrTokenMalformed means the text is not an invitation at all.
	ErrTokenMalformed = errors.New("not a parley invitation")
	// ErrTokenWrong means the cluster knows no invitation with this id
	// and secret.
	ErrTokenWrong = errors.New("invitation not recognised by the cluster (wrong or mistyped token)")
	// ErrTokenExpired means the invitation's time ran out.
	ErrTokenExpired = errors.New("invitation expired")
	// ErrTokenUsed means the invitation was already used as many times as
	// it allows.
	ErrTokenUsed = errors.New("invitation already used")
	// ErrTokenRevoked means a member revoked the invitation.
	ErrTokenRevoked = errors.New("invitation revoked")
	// ErrDigestMismatch means the machine at the invitation's address
	// presented a CA other than the one the invitation names: the
	// invitation is for another cluster, or someone is in between.
	ErrDigestMismatch = errors.New("the cluster's CA does not match the invitation's digest")
)

// InviteSecretLabel separates the hash of an invitation's secret from
// every other use of SHA-256 in Parley.
const InviteSecretLabel = "parley/v2/invite-secret"

const (
	tokenPrefix    = "parley1:"
	tokenIDBytes   = 6
	tokenSecretLen = 32
)

// Token is an invitation: the one line a member hands to a machine that
// is to join. It names the cluster by the SHA-256 digest of its CA
// certificate (as k3s's join tokens do), so that the joiner can check
// whom it talks to before it sends the secret; the cluster keeps only a
// hash of the secret.
//
// Its text form is
//
//	parley1:<CA digest, hex>:<id>:<secret, base64url>@<host:port>[,<host:port>...]
//
// where the addresses are the invitation endpoints of the members that
// can admit a machine.
type Token struct {
	Digest    Digest
	ID        string   // 12 lowercase hex digits
	Secret    []byte   // 32 random bytes
	Endpoints []string // host:port of invitation endpoints
}

// NewToken returns a token with a fresh id and secret.
func NewToken(d Digest, endpoints []string) (Token, error) {
	id := make([]byte, tokenIDBytes)
	secret := make([]byte, tokenSecretLen)
	if _, err := rand.Read(id); err != nil {
		return Token{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return Token{}, err
	}
	return Token{Digest: d, ID: hex.EncodeToString(id), Secret: secret, Endpoints: endpoints}, nil
}

// String returns the token's text form.
func (t Token) String() string {
	return tokenPrefix + t.Digest.String() + ":" + t.ID + ":" +
		base64.RawURLEncoding.EncodeToString(t.Secret) + "@" + strings.Join(t.Endpoints, ",")
}

// SecretHash is what the cluster stores of the secret.
func (t Token) SecretHash() []byte { return HashSecret(t.Secret) }

// HashSecret hashes an invitation's secret under [InviteSecretLabel].
func HashSecret(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte(InviteSecretLabel))
	h.Write(secret)
	return h.Sum(nil)
}

// ValidTokenID reports whether id looks like a token id.
func ValidTokenID(id string) bool {
	if len(id) != 2*tokenIDBytes {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// ParseToken parses a token's text form. Surrounding space is ignored.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Token, error) {
		return Token{}, fmt.Errorf("%w: %s", ErrTokenMalformed, why)
	}
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return bad("it should start with " + tokenPrefix)
	}
	creds, eps, ok := strings.Cut(rest, "@")
	if !ok {
		return bad("no addresses")
	}
	parts := strings.Split(creds, ":")
	if len(parts) != 3 {
		return bad("want digest:id:secret before the @")
	}
	d, err := ParseDigest(parts[0])
	if err != nil {
		return bad(err.Error())
	}
	if !ValidTokenID(parts[1]) {
		return bad("bad id")
	}
	secret, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(secret) != tokenSecretLen {
		return bad("bad secret")
	}
	var endpoints []string
	for e := range strings.SplitSeq(eps, ",") {
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" {
			return bad(fmt.Sprintf("bad address %q", e))
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return bad(fmt.Sprintf("bad port in %q", e))
		}
		endpoints = append(endpoints, net.JoinHostPort(host, port))
	}
	if len(endpoints) == 0 {
		return bad("no addresses")
	}
	return Token{Digest: d, ID: parts[1], Secret: secret, Endpoints: endpoints}, nil
}
