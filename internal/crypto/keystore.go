package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Errors returned by UnmarshalKeystore and KeystoreEncrypted.
var (
	// ErrWrongPassphrase means the passphrase does not open the keystore.
	// A keystore whose encrypted part was changed also reports it, since
	// the two cannot be told apart.
	ErrWrongPassphrase = errors.New("wrong passphrase")

	// ErrPassphraseRequired means the keystore is encrypted and no
	// passphrase was given.
	ErrPassphraseRequired = errors.New("keystore is encrypted: passphrase required")

	// ErrBadKeystore means the data is not a keystore this package can
	// read. It is wrapped with what is wrong.
	ErrBadKeystore = errors.New("keystore is damaged or not a parley keystore")
)

// A keystore holds an identity's name and private key seeds. It is a text
// file: the line "parley-keystore v1", then the standard, padded base64 of
// the body in lines of 64 characters, each ending in a newline. The body,
// with integers big-endian:
//
//	mode     1 byte: 0 unencrypted, 1 encrypted with a passphrase
//	if mode is 1, the key derivation parameters:
//	  time     4 bytes, argon2id passes
//	  memory   4 bytes, argon2id memory in KiB
//	  threads  1 byte, argon2id parallelism
//	  salt     16 bytes
//	secret, sealed if mode is 1
//	if mode is 0, checksum: 16 bytes
//
// where secret is
//
//	name length  1 byte, 1 to MaxNameBytes
//	name
//	Ed25519 seed          32 bytes
//	MLKEM768-X25519 seed  32 bytes
//
// In mode 1, the secret is sealed with XChaCha20-Poly1305 under the 32-byte
// argon2id hash of the passphrase with salt lp("parley/v1/keystore-kdf") ||
// salt, with an all-zero nonce (the key is fresh for every file) and with the
// version line and every body byte before the secret as associated data.
// In mode 0 the checksum is the first 16 bytes of
// SHA-256(lp("parley/v1/keystore-checksum") || version line || body before
// the checksum): it catches damage, not tampering, as anyone who can change
// an unencrypted keystore can also read it.
//
// The key derivation parameters are read from the file, so that they can
// be raised later without a new version, and checked against maxima so that
// a changed file cannot make opening it take unbounded time or memory.
const (
	keystoreMagic = "parley-keystore v1\n"

	keystorePlain     = 0
	keystoreEncrypted = 1

	keystoreSaltSize     = 16
	keystoreChecksumSize = 16
	keystoreParamsSize   = 4 + 4 + 1 + keystoreSaltSize
	keystoreLineWidth    = 64

	// maxKeystoreSize bounds the input read, well above any keystore.
	maxKeystoreSize = 4096
)

// kdfParams are argon2id parameters. memory is in KiB.
type kdfParams struct {
	time    uint32
	memory  uint32
	threads uint8
}

// defaultKDFParams are the parameters new keystores are made with.
func defaultKDFParams() kdfParams {
	return kdfParams{time: 3, memory: 64 << 10, threads: 4}
}

// maxKDFParams are the largest parameters a keystore may ask for: four
// times the memory of the defaults, and a few times their passes.
func maxKDFParams() kdfParams {
	return kdfParams{time: 10, memory: 256 << 10, threads: 16}
}

// check reports whether p is usable and within max.
func (p kdfParams) check(max kdfParams) error {
	switch {
	case p.time < 1 || p.time > max.time:
		return fmt.Errorf("argon2id time %d is not within 1 to %d", p.time, max.time)
	case p.threads < 1 || p.threads > max.threads:
		return fmt.Errorf("argon2id threads %d is not within 1 to %d", p.threads, max.threads)
	case p.memory < 8*uint32(p.threads) || p.memory > max.memory:
		return fmt.Errorf("argon2id memory %d KiB is not within %d to %d", p.memory, 8*uint32(p.threads), max.memory)
	}
	return nil
}

// MarshalKeystore encodes id for storage. If passphrase is not empty the
// private keys are encrypted with it; if it is empty they are stored in the
// clear, in the same format.
func MarshalKeystore(id *Identity, passphrase []byte) ([]byte, error) {
	return marshalKeystore(id, passphrase, defaultKDFParams())
}

func marshalKeystore(id *Identity, passphrase []byte, params kdfParams) ([]byte, error) {
	return marshalSealed(keystoreFormat, id, passphrase, params)
}

// A sealedFormat is a file that holds an identity's secret as a keystore
// does: the keystore itself, or an identity backup (see MarshalBackup).
// The formats differ in their first line, in the label of their key
// derivation and in whether the secret may be stored in the clear, so that
// neither file is ever read as the other.
type sealedFormat struct {
	what     string // "keystore" or "backup", for errors
	magic    string // the version line, with its newline
	kdfLabel string // domain-separation label of the argon2id salt
	plain    bool   // mode 0 (unencrypted) is allowed
	bad      error  // what a file that is not of this format reports
}

var keystoreFormat = sealedFormat{
	what: "keystore", magic: keystoreMagic, kdfLabel: labelKeystoreKDF, plain: true, bad: ErrBadKeystore,
}

func marshalSealed(f sealedFormat, id *Identity, passphrase []byte, params kdfParams) ([]byte, error) {
	if id == nil {
		return nil, fmt.Errorf("marshal %s: no identity", f.what)
	}
	if len(passphrase) == 0 && !f.plain {
		return nil, fmt.Errorf("marshal %s: %w", f.what, ErrPassphraseRequired)
	}
	signingSeed, kemSeed, err := id.seeds()
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", f.what, err)
	}
	secret := make([]byte, 0, 1+len(id.name)+2*seedSize)
	secret = append(secret, byte(len(id.name)))
	secret = append(secret, id.name...)
	secret = append(secret, signingSeed...)
	secret = append(secret, kemSeed...)
	defer clear(secret)

	var body []byte
	if len(passphrase) == 0 {
		body = append(body, keystorePlain)
		body = append(body, secret...)
		sum := keystoreChecksum(body)
		body = append(body, sum[:]...)
	} else {
		if err := params.check(maxKDFParams()); err != nil {
			return nil, fmt.Errorf("marshal %s: %w", f.what, err)
		}
		body = append(body, keystoreEncrypted)
		body = binary.BigEndian.AppendUint32(body, params.time)
		body = binary.BigEndian.AppendUint32(body, params.memory)
		body = append(body, params.threads)
		salt := make([]byte, keystoreSaltSize)
		rand.Read(salt) // never returns an error
		body = append(body, salt...)
		aead, err := keystoreAEAD(f.kdfLabel, passphrase, salt, params)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", f.what, err)
		}
		var nonce [chacha20poly1305.NonceSizeX]byte
		body = aead.Seal(body, nonce[:], secret, keystoreAD(f.magic, body))
	}

	enc := base64.StdEncoding.EncodeToString(body)
	var out strings.Builder
	out.WriteString(f.magic)
	for len(enc) > 0 {
		n := min(len(enc), keystoreLineWidth)
		out.WriteString(enc[:n])
		out.WriteByte('\n')
		enc = enc[n:]
	}
	return []byte(out.String()), nil
}

// UnmarshalKeystore decodes a keystore made by MarshalKeystore. An
// encrypted keystore needs its passphrase: without one it returns
// ErrPassphraseRequired, and with the wrong one ErrWrongPassphrase. A
// passphrase given for an unencrypted keystore is ignored. Any other problem
// is reported as an error wrapping ErrBadKeystore.
func UnmarshalKeystore(data, passphrase []byte) (*Identity, error) {
	return unmarshalKeystore(data, passphrase, maxKDFParams())
}

func unmarshalKeystore(data, passphrase []byte, max kdfParams) (*Identity, error) {
	return unmarshalSealed(keystoreFormat, data, passphrase, max)
}

func unmarshalSealed(f sealedFormat, data, passphrase []byte, max kdfParams) (*Identity, error) {
	body, err := decodeSealed(f, data)
	if err != nil {
		return nil, err
	}
	var secret []byte
	switch {
	case body[0] == keystorePlain && f.plain:
		if len(body) < 1+keystoreChecksumSize {
			return nil, fmt.Errorf("%w: too short", f.bad)
		}
		n := len(body) - keystoreChecksumSize
		sum := keystoreChecksum(body[:n])
		if subtle.ConstantTimeCompare(sum[:], body[n:]) != 1 {
			return nil, fmt.Errorf("%w: checksum mismatch", f.bad)
		}
		secret = body[1:n]
	case body[0] == keystoreEncrypted:
		if len(body) < 1+keystoreParamsSize+chacha20poly1305.Overhead {
			return nil, fmt.Errorf("%w: too short", f.bad)
		}
		params := kdfParams{
			time:    binary.BigEndian.Uint32(body[1:]),
			memory:  binary.BigEndian.Uint32(body[5:]),
			threads: body[9],
		}
		if err := params.check(max); err != nil {
			return nil, fmt.Errorf("%w: %v", f.bad, err)
		}
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		salt := body[10 : 10+keystoreSaltSize]
		header, sealed := body[:1+keystoreParamsSize], body[1+keystoreParamsSize:]
		aead, err := keystoreAEAD(f.kdfLabel, passphrase, salt, params)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", f.bad, err)
		}
		var nonce [chacha20poly1305.NonceSizeX]byte
		secret, err = aead.Open(nil, nonce[:], sealed, keystoreAD(f.magic, header))
		if err != nil {
			return nil, ErrWrongPassphrase
		}
		defer clear(secret)
	default:
		return nil, fmt.Errorf("%w: unknown mode %d", f.bad, body[0])
	}

	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: no secret", f.bad)
	}
	n := int(secret[0])
	if n == 0 || n > MaxNameBytes || len(secret) != 1+n+2*seedSize {
		return nil, fmt.Errorf("%w: bad secret length", f.bad)
	}
	name := string(secret[1 : 1+n])
	id, err := newIdentityFromSeeds(name, secret[1+n:1+n+seedSize], secret[1+n+seedSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", f.bad, err)
	}
	return id, nil
}

// KeystoreEncrypted reports whether the keystore needs a passphrase to open.
// It returns an error wrapping ErrBadKeystore if data is not a keystore.
func KeystoreEncrypted(data []byte) (bool, error) {
	body, err := decodeSealed(keystoreFormat, data)
	if err != nil {
		return false, err
	}
	switch body[0] {
	case keystorePlain:
		return false, nil
	case keystoreEncrypted:
		return true, nil
	}
	return false, fmt.Errorf("%w: unknown mode %d", ErrBadKeystore, body[0])
}

// decodeKeystore is decodeSealed for a keystore.
func decodeKeystore(data []byte) ([]byte, error) { return decodeSealed(keystoreFormat, data) }

// decodeSealed checks the version line and returns the decoded body,
// which is at least one byte long.
func decodeSealed(f sealedFormat, data []byte) ([]byte, error) {
	if len(data) > maxKeystoreSize {
		return nil, fmt.Errorf("%w: %d bytes is too large", f.bad, len(data))
	}
	rest, ok := bytes.CutPrefix(data, []byte(f.magic))
	if !ok {
		name, _, _ := strings.Cut(f.magic, " ")
		if bytes.HasPrefix(data, []byte(name+" ")) {
			return nil, fmt.Errorf("%w: unsupported version", f.bad)
		}
		return nil, fmt.Errorf("%w: missing %q line", f.bad, strings.TrimSpace(f.magic))
	}
	// The base64 decoder skips '\r' and '\n', so the line breaks, LF or
	// CRLF, need no handling here.
	body, err := base64.StdEncoding.Strict().DecodeString(string(rest))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", f.bad, err)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty", f.bad)
	}
	return body, nil
}

// keystoreAEAD derives the key that seals an encrypted keystore's (or
// backup's) secret; label is the format's kdfLabel.
func keystoreAEAD(label string, passphrase, salt []byte, p kdfParams) (cipher.AEAD, error) {
	s := appendLP(nil, label)
	s = append(s, salt...)
	key := argon2.IDKey(passphrase, s, p.time, p.memory, p.threads, chacha20poly1305.KeySize)
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

// keystoreAD is the associated data of an encrypted keystore's (or
// backup's) secret: its version line, then header.
func keystoreAD(magic string, header []byte) []byte {
	return append([]byte(magic), header...)
}

func keystoreChecksum(body []byte) [keystoreChecksumSize]byte {
	h := sha256.New()
	h.Write(appendLP(nil, labelKeystoreChecksum))
	h.Write([]byte(keystoreMagic))
	h.Write(body)
	var out [keystoreChecksumSize]byte
	copy(out[:], h.Sum(nil))
	return out
}
