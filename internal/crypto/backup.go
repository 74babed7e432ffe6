package crypto

import "errors"

// ErrBadBackup means the data is not an identity backup this package can
// read. It is wrapped with what is wrong.
var ErrBadBackup = errors.New("not a parley identity backup, or damaged")

// An identity backup is a keystore that is always encrypted, made to be
// carried to another machine: the same layout and cryptography as an
// encrypted keystore (see MarshalKeystore), with the version line
// "parley-identity-backup v1" and the argon2id salt labelled
// lp("parley/v1/identity-backup-kdf") instead of the keystore's label. A
// backup is never read as a keystore nor a keystore as a backup: both the
// version line (associated data of the seal) and the key derivation differ.
const backupMagic = "parley-identity-backup v1\n"

var backupFormat = sealedFormat{
	what: "backup", magic: backupMagic, kdfLabel: labelBackupKDF, plain: false, bad: ErrBadBackup,
}

// MarshalBackup seals id with passphrase for carrying to another machine.
// The passphrase must not be empty: a backup is never stored in the clear
// (it fails with an error wrapping ErrPassphraseRequired).
func MarshalBackup(id *Identity, passphrase []byte) ([]byte, error) {
	return marshalSealed(backupFormat, id, passphrase, defaultKDFParams())
}

// UnmarshalBackup opens a backup made by MarshalBackup. With no passphrase
// it returns ErrPassphraseRequired, with the wrong one (or a changed
// backup) ErrWrongPassphrase; any other problem is reported as an error
// wrapping ErrBadBackup.
func UnmarshalBackup(data, passphrase []byte) (*Identity, error) {
	return unmarshalSealed(backupFormat, data, passphrase, maxKDFParams())
}

// IsBackup reports whether data starts as an identity backup does, of any
// version: what to try opening it as.
func IsBackup(data []byte) bool {
	return len(data) >= len("parley-identity-backup ") && string(data[:len("parley-identity-backup ")]) == "parley-identity-backup "
}
