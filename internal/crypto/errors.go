package crypto

import "errors"

// Errors returned, wrapped with detail, by the functions of this package.
// Test for them with errors.Is.
var (
	// ErrMalformed means an envelope, a key wrap or a message ID is not
	// well-formed: wrong version, wrong length, out-of-range field or
	// trailing bytes.
	ErrMalformed = errors.New("malformed")

	// ErrTooLarge means a message's plaintext is longer than MaxPlaintext,
	// or a key wrap holds more than MaxEpochs keys.
	ErrTooLarge = errors.New("too large")

	// ErrBadSignature means an envelope is not signed by the identity it was
	// checked against, or not for the room and message ID it was checked
	// for.
	ErrBadSignature = errors.New("bad signature")

	// ErrDecrypt means a message or a key wrap could not be decrypted: the
	// key is wrong, the wrap was made for someone else or another context,
	// or the ciphertext was changed.
	ErrDecrypt = errors.New("decryption failed")
)
