package crypto

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestNewIdentity(t *testing.T) {
	for _, name := range []string{"a", "alice", strings.Repeat("x", MaxNameBytes), "émile"} {
		id, err := NewIdentity(name)
		if err != nil {
			t.Fatalf("NewIdentity(%q): %v", name, err)
		}
		if id.Name() != name || id.Public().Name() != name {
			t.Errorf("NewIdentity(%q): names %q, %q", name, id.Name(), id.Public().Name())
		}
		if id.Public() != id.Public() {
			t.Error("Public returns a new value each call")
		}
		if len(id.Public().SigningKey()) != 32 || len(id.Public().KEMKey()) != kemPublicKeySize {
			t.Error("public key sizes")
		}
	}
	for _, name := range []string{"", strings.Repeat("x", MaxNameBytes+1)} {
		if _, err := NewIdentity(name); err == nil {
			t.Errorf("NewIdentity(%d bytes) succeeded", len(name))
		}
	}
	a, b := mustNewIdentity(t, "alice"), mustNewIdentity(t, "alice")
	if a.Public().Equal(b.Public()) {
		t.Error("two new identities have the same keys")
	}
}

func TestNewPublicIdentity(t *testing.T) {
	pub := fixedIdentity(t, "alice").Public()
	sk, kk := pub.SigningKey(), pub.KEMKey()
	badKEM := bytes.Clone(kk)
	// An ML-KEM-768 encapsulation key coefficient of 0xfff is not reduced
	// modulo q, which the key parser rejects.
	badKEM[0], badKEM[1] = 0xff, 0xff

	tests := []struct {
		name     string
		user     string
		sk, kk   []byte
		wantFail bool
	}{
		{"ok", "alice", sk, kk, false},
		{"empty name", "", sk, kk, true},
		{"long name", strings.Repeat("a", MaxNameBytes+1), sk, kk, true},
		{"nil signing key", "alice", nil, kk, true},
		{"short signing key", "alice", sk[:31], kk, true},
		{"long signing key", "alice", append(bytes.Clone(sk), 0), kk, true},
		{"nil kem key", "alice", sk, nil, true},
		{"short kem key", "alice", sk, kk[:len(kk)-1], true},
		{"long kem key", "alice", sk, append(bytes.Clone(kk), 0), true},
		{"unreduced kem key", "alice", sk, badKEM, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPublicIdentity(tt.user, tt.sk, tt.kk)
			if tt.wantFail {
				if err == nil {
					t.Fatal("succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.Equal(pub) || !pub.Equal(p) {
				t.Error("not equal to the identity it was made from")
			}
		})
	}
}

func TestPublicIdentityCopies(t *testing.T) {
	pub := fixedIdentity(t, "alice").Public()
	sk, kk := pub.SigningKey(), pub.KEMKey()
	sk[0] ^= 1
	kk[0] ^= 1
	if bytes.Equal(pub.SigningKey(), sk) || bytes.Equal(pub.KEMKey(), kk) {
		t.Error("key accessors return internal slices")
	}

	sk, kk = pub.SigningKey(), pub.KEMKey()
	p, err := NewPublicIdentity("alice", sk, kk)
	if err != nil {
		t.Fatal(err)
	}
	sk[0] ^= 1
	kk[0] ^= 1
	if !p.Equal(pub) {
		t.Error("NewPublicIdentity keeps the caller's slices")
	}
}

func TestPublicIdentityEqual(t *testing.T) {
	alice := fixedIdentity(t, "alice").Public()
	alice2, _ := NewPublicIdentity("alice", alice.SigningKey(), alice.KEMKey())
	renamed, _ := NewPublicIdentity("mallory", alice.SigningKey(), alice.KEMKey())
	bob := fixedIdentity(t, "bob").Public()
	mixed1, _ := NewPublicIdentity("alice", alice.SigningKey(), bob.KEMKey())
	mixed2, _ := NewPublicIdentity("alice", bob.SigningKey(), alice.KEMKey())

	tests := []struct {
		name string
		p, q *PublicIdentity
		want bool
	}{
		{"same", alice, alice, true},
		{"rebuilt", alice, alice2, true},
		{"other name", alice, renamed, false},
		{"other user", alice, bob, false},
		{"other kem key", alice, mixed1, false},
		{"other signing key", alice, mixed2, false},
		{"nil", alice, nil, false},
		{"both nil", nil, nil, true},
	}
	for _, tt := range tests {
		if got := tt.p.Equal(tt.q); got != tt.want {
			t.Errorf("%s: Equal = %v", tt.name, got)
		}
		if got := tt.q.Equal(tt.p); got != tt.want {
			t.Errorf("%s: reversed Equal = %v", tt.name, got)
		}
	}
}

func TestFingerprint(t *testing.T) {
	alice := fixedIdentity(t, "alice").Public()
	fp := alice.Fingerprint()
	if !regexp.MustCompile(`^parley1(-[a-z2-7]{4}){8}$`).MatchString(fp) {
		t.Errorf("fingerprint %q has the wrong form", fp)
	}
	if alice.Fingerprint() != fp {
		t.Error("fingerprint changes between calls")
	}
	renamed, _ := NewPublicIdentity("someone", alice.SigningKey(), alice.KEMKey())
	if renamed.Fingerprint() != fp {
		t.Error("fingerprint depends on the name")
	}
	if fixedIdentity(t, "bob").Public().Fingerprint() == fp {
		t.Error("two identities share a fingerprint")
	}
	// The value itself is pinned by TestVectors.
}

func TestSignVerify(t *testing.T) {
	alice := fixedIdentity(t, "alice")
	bob := fixedIdentity(t, "bob")
	const label = "parley/v1/test"
	msg := []byte("hello")
	sig := alice.Sign(label, msg)

	tests := []struct {
		name  string
		pub   *PublicIdentity
		label string
		msg   []byte
		sig   []byte
		want  bool
	}{
		{"ok", alice.Public(), label, msg, sig, true},
		{"other key", bob.Public(), label, msg, sig, false},
		{"other label", alice.Public(), "parley/v1/other", msg, sig, false},
		{"label shifted into message", alice.Public(), "parley/v1/tes", append([]byte("t"), msg...), sig, false},
		{"other message", alice.Public(), label, []byte("hellO"), sig, false},
		{"short signature", alice.Public(), label, msg, sig[:63], false},
		{"long signature", alice.Public(), label, msg, append(bytes.Clone(sig), 0), false},
		{"nil signature", alice.Public(), label, msg, nil, false},
		{"flipped signature", alice.Public(), label, msg, flip(sig, 10), false},
	}
	for _, tt := range tests {
		if got := tt.pub.Verify(tt.label, tt.msg, tt.sig); got != tt.want {
			t.Errorf("%s: Verify = %v", tt.name, got)
		}
	}

	// A long label and message take the heap path in Verify.
	long := strings.Repeat("l", 1000)
	big := bytes.Repeat([]byte("m"), 5000)
	if !alice.Public().Verify(long, big, alice.Sign(long, big)) {
		t.Error("long label and message do not verify")
	}
}

// TestLabels checks that the domain-separation labels are distinct and
// that none is a prefix of another.
func TestLabels(t *testing.T) {
	labels := []string{
		labelMessage, labelMessageNonce, labelChainHash, labelRoomKeyWrap,
		labelKeystoreKDF, labelKeystoreChecksum, labelFingerprint,
		labelKeyCheck, labelKeyLink,
	}
	for i, a := range labels {
		// Identities and keystores kept their v1 formats; everything of
		// rooms and messages moved to v2 with the room protocol.
		if !strings.HasPrefix(a, "parley/v1/") && !strings.HasPrefix(a, "parley/v2/") {
			t.Errorf("label %q lacks a parley/v1/ or parley/v2/ prefix", a)
		}
		for j, b := range labels {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("label %q is a prefix of %q", a, b)
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}
