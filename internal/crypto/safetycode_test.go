package crypto

import (
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// safetyVector is one committed safety code: two users from fixed seeds
// (see fixedIdentity), their fingerprints and the code of the pair.
type safetyVector struct {
	A            string `json:"a"`
	B            string `json:"b"`
	FingerprintA string `json:"fingerprint_a"`
	FingerprintB string `json:"fingerprint_b"`
	Code         string `json:"code"`
}

var safetyVectorsFile = filepath.Join("testdata", "safety_vectors.json")

func TestSafetyCodeVectors(t *testing.T) {
	var vs []safetyVector
	if *update {
		for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}, {"carol", "dave"}, {"émile", "zoë"}, {"alice", "alice"}} {
			vs = append(vs, safetyVector{A: p[0], B: p[1]})
		}
	} else {
		data, err := os.ReadFile(safetyVectorsFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &vs); err != nil {
			t.Fatal(err)
		}
	}
	for i := range vs {
		v := &vs[i]
		a, b := fixedIdentity(t, v.A).Public(), fixedIdentity(t, v.B).Public()
		code := SafetyCode(a, b)
		if *update {
			v.FingerprintA, v.FingerprintB, v.Code = a.Fingerprint(), b.Fingerprint(), code
			continue
		}
		if a.Fingerprint() != v.FingerprintA || b.Fingerprint() != v.FingerprintB {
			t.Errorf("%s, %s: fingerprints %s, %s; want %s, %s", v.A, v.B, a.Fingerprint(), b.Fingerprint(), v.FingerprintA, v.FingerprintB)
		}
		if code != v.Code {
			t.Errorf("SafetyCode(%s, %s) = %s, want %s", v.A, v.B, code, v.Code)
		}
		if got, err := SafetyCodeOf(v.A, v.FingerprintA, v.B, v.FingerprintB); err != nil || got != v.Code {
			t.Errorf("SafetyCodeOf(%s, %s) = %s, %v; want %s", v.A, v.B, got, err, v.Code)
		}
	}
	if *update {
		data, err := json.MarshalIndent(vs, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(safetyVectorsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var safetyCodeForm = regexp.MustCompile(`^[0-9]{5}( [0-9]{5}){11}$`)

func TestSafetyCode(t *testing.T) {
	alice, bob, carol := fixedIdentity(t, "alice").Public(), fixedIdentity(t, "bob").Public(), fixedIdentity(t, "carol").Public()
	ab, ba := SafetyCode(alice, bob), SafetyCode(bob, alice)
	if ab != ba {
		t.Errorf("SafetyCode(alice, bob) = %s, SafetyCode(bob, alice) = %s; want them equal", ab, ba)
	}
	if !safetyCodeForm.MatchString(ab) {
		t.Errorf("SafetyCode(alice, bob) = %q, want 12 groups of 5 digits", ab)
	}
	if ac := SafetyCode(alice, carol); ac == ab {
		t.Error("the codes of alice with bob and with carol are the same")
	}
	// Another key under the same name changes bob's half.
	otherBob := mustNewIdentity(t, "bob").Public()
	if c := SafetyCode(alice, otherBob); c == ab {
		t.Error("a new key for bob leaves the code unchanged")
	}
	// The same keys under another name change it too.
	renamed, err := NewPublicIdentity("bobby", bob.SigningKey(), bob.KEMKey())
	if err != nil {
		t.Fatal(err)
	}
	if c := SafetyCode(alice, renamed); c == ab {
		t.Error("the code does not depend on the name")
	}
	// alice's half is in both codes; only bob's changed.
	half := safetyHalf("alice", alice.fingerprintDigest())
	for _, c := range []string{ab, SafetyCode(alice, otherBob)} {
		digits := strings.ReplaceAll(c, " ", "")
		if digits[:30] != half && digits[30:] != half {
			t.Errorf("code %s does not hold alice's half %s", c, half)
		}
	}
}

func TestSafetyCodeOfRefusesBadInput(t *testing.T) {
	alice := fixedIdentity(t, "alice").Public()
	fp := alice.Fingerprint()
	for _, bad := range []string{
		"", "parley1", fp[:len(fp)-1], fp + "a", strings.ToUpper(fp), "parley2" + fp[7:],
		strings.Replace(fp, "-", "", 1), fp[:len(fp)-1] + "1", // 1 is not base32
		strings.Replace(fp, "-", "--", 1),
	} {
		if _, err := SafetyCodeOf("alice", fp, "bob", bad); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("SafetyCodeOf(bob %q) = %v, want ErrBadFingerprint", bad, err)
		}
		if err := CheckFingerprint(bad); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("CheckFingerprint(%q) = %v, want ErrBadFingerprint", bad, err)
		}
	}
	if err := CheckFingerprint(fp); err != nil {
		t.Errorf("CheckFingerprint(%q) = %v", fp, err)
	}
	if _, err := SafetyCodeOf("", fp, "bob", fp); err == nil {
		t.Error("SafetyCodeOf with an empty name succeeded")
	}
}

// TestSafetyCodeLayoutDocumented rebuilds a half as the comment of
// safetycode.go describes it, from the standard library only.
func TestSafetyCodeLayoutDocumented(t *testing.T) {
	alice, bob := fixedIdentity(t, "alice").Public(), fixedIdentity(t, "bob").Public()
	half := func(p *PublicIdentity) string {
		digest := unb32(t, p.Fingerprint())
		h := sha512.Sum512(cat(lp("parley/v1/safety-code"), lp(p.Name()), lp(string(digest))))
		var b strings.Builder
		for i := 0; i < 6; i++ {
			var n uint64
			for _, c := range h[5*i : 5*i+5] {
				n = n<<8 | uint64(c)
			}
			fmt.Fprintf(&b, "%05d", n%100000)
		}
		return b.String()
	}
	ha, hb := half(alice), half(bob)
	if hb < ha {
		ha, hb = hb, ha
	}
	var groups []string
	for d := ha + hb; d != ""; d = d[5:] {
		groups = append(groups, d[:5])
	}
	if want, got := strings.Join(groups, " "), SafetyCode(alice, bob); got != want {
		t.Errorf("SafetyCode = %s, documented construction gives %s", got, want)
	}
}

// unb32 decodes a fingerprint's base32 groups back to its digest.
func unb32(t *testing.T, fp string) []byte {
	t.Helper()
	s := strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(fp, "parley1-"), "-", ""))
	d, err := fingerprintEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
