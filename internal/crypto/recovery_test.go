package crypto

import (
	"errors"
	"strings"
	"testing"
)

func TestRecoveryCode(t *testing.T) {
	c := NewRecoveryCode()
	s := c.String()
	if len(s) != 39 || strings.Count(s, "-") != 7 {
		t.Fatalf("code %q is not 8 groups of 4", s)
	}
	got, err := ParseRecoveryCode(strings.ToLower(strings.ReplaceAll(s, "-", " ")))
	if err != nil || got != c {
		t.Fatalf("ParseRecoveryCode = %v, %v", got, err)
	}
	if _, err := ParseRecoveryCode(s[:30]); !errors.Is(err, ErrBadRecoveryCode) {
		t.Fatalf("short code: %v", err)
	}
	a1, _ := c.RecoveryIdentity("alice")
	a2, _ := got.RecoveryIdentity("alice")
	b, _ := c.RecoveryIdentity("bob")
	o, _ := NewRecoveryCode().RecoveryIdentity("alice")
	if !a1.Public().Equal(a2.Public()) {
		t.Fatal("the same code gave other keys")
	}
	if a1.Public().Equal(b.Public()) || a1.Public().Equal(o.Public()) {
		t.Fatal("another name or code gave the same keys")
	}
	k, err := NewSigningKey("alice", a1.Public().SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	sig := a1.Sign("parley/test", []byte("m"))
	if !k.Verify("parley/test", []byte("m"), sig) || k.Verify("parley/test", []byte("n"), sig) || k.Verify("parley/other", []byte("m"), sig) {
		t.Fatal("SigningKey.Verify does not check label and message")
	}
	if _, err := NewSigningKey("alice", []byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}
