package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func marshalTestBackup(tb testing.TB, id *Identity, passphrase string) []byte {
	tb.Helper()
	data, err := marshalSealed(backupFormat, id, []byte(passphrase), testKDFParams())
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func unmarshalTestBackup(data []byte, passphrase string) (*Identity, error) {
	return unmarshalSealed(backupFormat, data, []byte(passphrase), maxKDFParams())
}

func TestBackupRoundTrip(t *testing.T) {
	for _, name := range []string{"a", "alice", strings.Repeat("n", MaxNameBytes)} {
		id := mustNewIdentity(t, name)
		data := marshalTestBackup(t, id, "correct horse battery staple")
		if !strings.HasPrefix(string(data), "parley-identity-backup v1\n") || !IsBackup(data) {
			t.Fatalf("backup starts %q", data[:min(len(data), 30)])
		}
		got, err := unmarshalTestBackup(data, "correct horse battery staple")
		if err != nil || !sameIdentity(got, id) {
			t.Fatalf("round trip of %q: %v", name, err)
		}
		if bytes.Equal(data, marshalTestBackup(t, id, "correct horse battery staple")) {
			t.Error("two backups of one identity are equal: the salt is not fresh")
		}
	}
}

func TestBackupDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with default parameters is slow")
	}
	id := fixedIdentity(t, "alice")
	data, err := MarshalBackup(id, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnmarshalBackup(data, []byte("pass")); err != nil || !sameIdentity(got, id) {
		t.Fatalf("round trip with default parameters: %v", err)
	}
}

func TestBackupPassphrase(t *testing.T) {
	id := fixedIdentity(t, "alice")
	if _, err := MarshalBackup(id, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("MarshalBackup with no passphrase = %v, want ErrPassphraseRequired", err)
	}
	if _, err := marshalSealed(backupFormat, id, []byte{}, testKDFParams()); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("backup with an empty passphrase = %v, want ErrPassphraseRequired", err)
	}
	data := marshalTestBackup(t, id, "secret")
	if _, err := unmarshalTestBackup(data, "Secret"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	if _, err := unmarshalTestBackup(data, ""); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("no passphrase: %v, want ErrPassphraseRequired", err)
	}
	// A changed byte of the sealed part reads as a wrong passphrase.
	flipped := rewriteSealed(t, backupFormat, data, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	if _, err := unmarshalTestBackup(flipped, "secret"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("changed backup: %v, want ErrWrongPassphrase", err)
	}
}

// A backup is never a keystore, a keystore never a backup, and a backup in
// the clear is refused.
func TestBackupIsNotAKeystore(t *testing.T) {
	id := fixedIdentity(t, "alice")
	backup := marshalTestBackup(t, id, "secret")
	if _, err := UnmarshalKeystore(backup, []byte("secret")); !errors.Is(err, ErrBadKeystore) {
		t.Errorf("backup read as a keystore: %v, want ErrBadKeystore", err)
	}
	for _, pass := range []string{"", "secret"} {
		ks := marshalTestKeystore(t, id, pass)
		if _, err := unmarshalTestBackup(ks, "secret"); !errors.Is(err, ErrBadBackup) {
			t.Errorf("keystore (passphrase %q) read as a backup: %v, want ErrBadBackup", pass, err)
		}
		if IsBackup(ks) {
			t.Error("IsBackup(keystore) = true")
		}
	}
	// The keystore's body under the backup's line: the seal's associated
	// data and the key derivation differ, so it does not open.
	ks := marshalTestKeystore(t, id, "secret")
	relabelled := []byte(backupMagic + strings.TrimPrefix(string(ks), keystoreMagic))
	if _, err := unmarshalTestBackup(relabelled, "secret"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("keystore relabelled as a backup: %v, want ErrWrongPassphrase", err)
	}
	// A plain (mode 0) body under the backup's line is refused.
	plain := marshalTestKeystore(t, id, "")
	plainBackup := []byte(backupMagic + strings.TrimPrefix(string(plain), keystoreMagic))
	if _, err := unmarshalTestBackup(plainBackup, "secret"); !errors.Is(err, ErrBadBackup) {
		t.Errorf("unencrypted backup: %v, want ErrBadBackup", err)
	}
	for _, bad := range []string{"", "parley-identity-backup v2\nAAAA\n", "parley-identity-backup v1\n!!!\n", "parley-identity-backup v1\n"} {
		if _, err := unmarshalTestBackup([]byte(bad), "secret"); !errors.Is(err, ErrBadBackup) {
			t.Errorf("backup %q: %v, want ErrBadBackup", bad, err)
		}
	}
}

// rewriteSealed decodes a file of format f, applies fn to its body and
// encodes it again.
func rewriteSealed(tb testing.TB, f sealedFormat, data []byte, fn func([]byte) []byte) []byte {
	tb.Helper()
	body, err := decodeSealed(f, data)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(f.magic + base64.StdEncoding.EncodeToString(fn(body)) + "\n")
}

// TestBackupVector opens a committed backup of the fixed alice (made with
// the smallest argon2id parameters, which the file records), so the format
// cannot change unnoticed.
func TestBackupVector(t *testing.T) {
	const pass = "correct horse battery staple"
	path := filepath.Join("testdata", "backup_vector.txt")
	id := fixedIdentity(t, "alice")
	if *update {
		if err := os.WriteFile(path, marshalTestBackup(t, id, pass), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalBackup(data, []byte(pass))
	if err != nil || !sameIdentity(got, id) {
		t.Fatalf("committed backup: %v", err)
	}
	if _, err := UnmarshalBackup(data, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("committed backup, wrong passphrase: %v", err)
	}
}

// FuzzUnmarshalBackup: a backup file may come from anywhere; no input
// makes opening it panic, and what opens is the identity it names.
func FuzzUnmarshalBackup(f *testing.F) {
	vec, err := os.ReadFile(filepath.Join("testdata", "backup_vector.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vec, []byte("correct horse battery staple"))
	f.Add(vec, []byte("wrong"))
	f.Add([]byte(backupMagic+"AA==\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, data, passphrase []byte) {
		id, err := unmarshalSealed(backupFormat, data, passphrase, fuzzMaxKDFParams())
		if err != nil {
			return
		}
		again, err := marshalSealed(backupFormat, id, []byte("p"), testKDFParams())
		if err != nil {
			t.Fatal(err)
		}
		if id2, err := unmarshalTestBackup(again, "p"); err != nil || !sameIdentity(id, id2) {
			t.Fatalf("re-sealed backup does not open to the same identity: %v", err)
		}
	})
}
