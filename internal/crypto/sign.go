package crypto

import (
	"crypto/ed25519"
	"encoding/binary"
)

// Sign signs msg for the purpose named by label, which must be a constant
// unique to that purpose, such as "parley/v1/member-list". The signature is
// Ed25519 over lp(label) || msg, where lp is a 4-byte big-endian length
// followed by the bytes, so a signature made under one label never verifies
// under another.
func (id *Identity) Sign(label string, msg []byte) []byte {
	m := make([]byte, 0, lpLen(label)+len(msg))
	m = appendLP(m, label)
	m = append(m, msg...)
	return ed25519.Sign(id.signing, m)
}

// Verify reports whether sig is p's signature of msg under label, as made by
// Identity.Sign.
func (p *PublicIdentity) Verify(label string, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	var stack [512]byte
	m := appendLP(stack[:0], label)
	m = append(m, msg...)
	return ed25519.Verify(p.signing, m, sig)
}

// appendLP appends the 4-byte big-endian length of s and then s.
func appendLP[S ~string | ~[]byte](b []byte, s S) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// lpLen is the length of s once appendLP has prefixed it.
func lpLen[S ~string | ~[]byte](s S) int {
	return 4 + len(s)
}
