// Package crypto holds Parley's cryptography: user identities and the
// keystore that keeps them, room keys and the wraps that hand them to room
// members, and the envelope that carries one chat message.
//
// The package is pure. It knows nothing of etcd, files or terminals: every
// function takes bytes and returns bytes, and where those bytes are stored is
// the caller's business. It has no global state and is safe for concurrent
// use; Identity, PublicIdentity, RoomKey and a parsed Envelope are immutable.
//
// The algorithms are fixed, with nothing to negotiate or configure:
//
//   - signatures: Ed25519;
//   - room key wrapping: HPKE (RFC 9180) with the MLKEM768-X25519 (X-Wing) KEM,
//     HKDF-SHA256 and ChaCha20-Poly1305;
//   - messages: XChaCha20-Poly1305 under a 256-bit room key, with a nonce
//     derived from the message's room, ID and sender;
//   - keystore: argon2id and XChaCha20-Poly1305.
//
// Every hash, signature and key-derivation input starts with a distinct
// domain-separation label, length-prefixed, so that a value made for one
// purpose is never accepted for another. Variable-length fields inside those
// inputs are length-prefixed too (4 bytes, big-endian), so no two distinct
// inputs encode to the same bytes.
//
// User and room names are opaque to this package beyond their length in
// bytes: checking what a valid name is happens elsewhere.
package crypto

// MaxNameBytes is the longest user name, in bytes, that an identity or an
// envelope can carry.
const MaxNameBytes = 64

// Domain-separation labels. Each is used for exactly one purpose.
const (
	// labelMessage starts the message Ed25519 signs for an envelope. The
	// associated data of the envelope's encryption is a prefix of that
	// message, so it starts with this label too.
	labelMessage = "parley/v2/message-signature"
	// labelMessageNonce derives a message's XChaCha20-Poly1305 nonce.
	labelMessageNonce = "parley/v2/message-nonce"
	// labelChainHash domain-separates ChainHash, a digest of a whole envelope.
	labelChainHash = "parley/v2/chain-hash"
	// labelRoomKeyWrap starts the HPKE info of a room key wrap.
	labelRoomKeyWrap = "parley/v2/room-key-wrap"
	// labelKeystoreKDF starts the argon2id salt of an encrypted keystore.
	labelKeystoreKDF = "parley/v1/keystore-kdf"
	// labelKeystoreChecksum hashes the body of an unencrypted keystore.
	labelKeystoreChecksum = "parley/v1/keystore-checksum"
	// labelKeyCheck commits a room's commit record to its epoch key.
	labelKeyCheck = "parley/v2/room-key-check"
	// labelKeyLink derives the key that seals an epoch's predecessor key.
	labelKeyLink = "parley/v2/room-key-link"
	// labelFingerprint hashes a public identity's keys into its fingerprint.
	labelFingerprint = "parley/v1/fingerprint"
	// labelSafetyCode hashes one user's half of a pair's safety code.
	labelSafetyCode = "parley/v1/safety-code"
	// labelBackupKDF starts the argon2id salt of an identity backup.
	labelBackupKDF = "parley/v1/identity-backup-kdf"
)
