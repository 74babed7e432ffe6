package crypto

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Safety codes.
//
// Two users compare a safety code out of band (in person, on a call) to
// check that each holds the other's real keys, as with Signal's safety
// numbers. The code of a pair is 60 decimal digits in 12 groups of five:
//
//	12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 12345 67890
//
// Each user contributes a half of 30 digits, computed from their name and
// the 20-byte digest behind their key fingerprint (see Fingerprint):
//
//	h = SHA-512(lp("parley/v1/safety-code") || lp(name) || lp(digest))
//
// The first 30 bytes of h are read as six 40-bit big-endian integers, each
// taken modulo 100000 and written as five digits. The code is the two halves
// in ascending order, so it is the same whichever of the two computes it.
//
// The half is computed from the fingerprint's digest, not from the keys
// themselves, so that a home that knows an older key of a user only by its
// pinned fingerprint can still show that key's code (parley trust does). This
// costs nothing: to match someone's half an attacker needs a key whose
// digest gives the same 30 digits, about 2^100 tries, while the digest
// itself has 160 bits. The name is part of the half, so the code also says
// who is who.
const (
	safetyHalfDigits = 30
	safetyGroup      = 5

	fingerprintPrefix = "parley1"
	fingerprintSize   = 20 // bytes of the digest a fingerprint encodes
)

var fingerprintEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadFingerprint means a string is not a fingerprint Fingerprint makes.
var ErrBadFingerprint = errors.New("not a parley key fingerprint")

// SafetyCode returns the safety code of the users a and b: 12 groups of
// five digits separated by spaces. SafetyCode(a, b) == SafetyCode(b, a).
func SafetyCode(a, b *PublicIdentity) string {
	return safetyCode(safetyHalf(a.name, a.fingerprintDigest()), safetyHalf(b.name, b.fingerprintDigest()))
}

// SafetyCodeOf is SafetyCode for users known by name and fingerprint only,
// as a home pins them. It fails with an error wrapping ErrBadFingerprint if
// a fingerprint is not one Fingerprint returns, and if a name is not 1 to
// MaxNameBytes bytes long.
func SafetyCodeOf(nameA, fingerprintA, nameB, fingerprintB string) (string, error) {
	var halves [2]string
	for i, p := range [2][2]string{{nameA, fingerprintA}, {nameB, fingerprintB}} {
		if err := checkName(p[0]); err != nil {
			return "", err
		}
		d, err := parseFingerprint(p[1])
		if err != nil {
			return "", err
		}
		halves[i] = safetyHalf(p[0], d)
	}
	return safetyCode(halves[0], halves[1]), nil
}

// CheckFingerprint reports whether fp is a fingerprint Fingerprint could
// return: nil if so, an error wrapping ErrBadFingerprint if not.
func CheckFingerprint(fp string) error {
	_, err := parseFingerprint(fp)
	return err
}

// fingerprintDigest is the digest Fingerprint encodes.
func (p *PublicIdentity) fingerprintDigest() []byte {
	h := sha256.New()
	h.Write(appendLP(nil, labelFingerprint))
	h.Write(p.signing)
	h.Write(p.kemBytes)
	return h.Sum(nil)[:fingerprintSize]
}

// parseFingerprint returns the digest a fingerprint encodes.
func parseFingerprint(fp string) ([]byte, error) {
	rest, ok := strings.CutPrefix(fp, fingerprintPrefix)
	groups := strings.Split(rest, "-")
	if !ok || len(groups) != 9 || groups[0] != "" {
		return nil, fmt.Errorf("%w: %q", ErrBadFingerprint, fp)
	}
	var enc strings.Builder
	for _, g := range groups[1:] {
		if len(g) != 4 {
			return nil, fmt.Errorf("%w: %q", ErrBadFingerprint, fp)
		}
		enc.WriteString(g)
	}
	s := enc.String()
	if strings.ToLower(s) != s {
		return nil, fmt.Errorf("%w: %q", ErrBadFingerprint, fp)
	}
	d, err := fingerprintEncoding.DecodeString(strings.ToUpper(s))
	if err != nil || len(d) != fingerprintSize {
		return nil, fmt.Errorf("%w: %q", ErrBadFingerprint, fp)
	}
	return d, nil
}

// safetyHalf is one user's 30 digits.
func safetyHalf(name string, digest []byte) string {
	h := sha512.New()
	h.Write(appendLP(nil, labelSafetyCode))
	h.Write(appendLP(nil, name))
	h.Write(appendLP(nil, digest))
	sum := h.Sum(nil)
	var b strings.Builder
	for i := 0; i < safetyHalfDigits/safetyGroup; i++ {
		var chunk [8]byte
		copy(chunk[3:], sum[5*i:5*i+5])
		fmt.Fprintf(&b, "%05d", binary.BigEndian.Uint64(chunk[:])%100000)
	}
	return b.String()
}

// safetyCode puts two halves in ascending order and groups the digits.
func safetyCode(a, b string) string {
	if b < a {
		a, b = b, a
	}
	digits := a + b
	groups := make([]string, 0, len(digits)/safetyGroup)
	for i := 0; i < len(digits); i += safetyGroup {
		groups = append(groups, digits[i:i+safetyGroup])
	}
	return strings.Join(groups, " ")
}
