package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/fsutil"
	"github.com/parley-chat/parley/internal/names"
)

// nameTakenError is a login refused because etcd holds other keys for the
// name than this home's keystore. It tells the name's owner, who may have
// lost their keystore, how to get it back.
type nameTakenError struct {
	user  string
	fresh bool // the home had no keystore for user: one was made, and removed
	err   error
}

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("%v: the key stored for %s in etcd is not this home's key", e.err, e.user)
}

func (e *nameTakenError) Unwrap() error { return e.err }

func (e *nameTakenError) hint() string {
	if e.fresh {
		return fmt.Sprintf("this home had no keystore for %s: if you are %s and lost your keystore, restore it from a backup with: parley identity import FILE; otherwise pick another name with --user", e.user, e.user)
	}
	return fmt.Sprintf("if you lost your keystore, see parley identity import; if this home's keystore is the one %s always used, someone with write access to etcd replaced %s's user record", e.user, e.user)
}

// nameTaken explains a login refused with chat.ErrNameTaken. A keystore
// created for the attempt holds keys nobody registered: it is removed, so
// that the user's real identity can be imported in its place.
func (a *App) nameTaken(u string, created bool, err error) error {
	if created {
		path := filepath.Join(a.userDir(u), "keystore")
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			a.warn("cannot remove the unused keystore %s: %v", path, rerr)
		}
	}
	return &nameTakenError{user: u, fresh: created, err: err}
}

// identityExistsError is an import refused because the home holds another
// keystore for the user.
type identityExistsError struct {
	user, path  string
	unconfirmed bool // no login with that keystore ever reached the cluster
}

func (e *identityExistsError) Error() string {
	return fmt.Sprintf("this home already holds a keystore for %s (%s) that is not the imported identity, or that this passphrase does not open", e.user, e.path)
}

func (e *identityExistsError) hint() string {
	if e.unconfirmed {
		return "no login with that keystore ever reached the cluster, so it may be one made by mistake: if so, remove it and import again; otherwise import into another --home"
	}
	return "import into another --home, or move that keystore away first (it may be someone's only copy of their keys)"
}

// errBackupPassphrase is a backup with no passphrase to seal or open it.
type errBackupPassphrase struct{}

func (errBackupPassphrase) Error() string { return "a backup is always encrypted: passphrase required" }
func (errBackupPassphrase) Unwrap() error { return crypto.ErrPassphraseRequired }

// maxBackupSize bounds what import reads: well above any backup.
const maxBackupSize = 64 << 10

func (a *App) identityCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "identity",
		Short: "Back up your identity, or restore it on another machine",
		Long: `Your identity is your keys: whoever holds them is you to everyone else, and
without them nobody, not even you, can log in as you again (the name stays
claimed by your keys in etcd). identity export writes them to a file sealed
with a passphrase (argon2id and XChaCha20-Poly1305, like an encrypted
keystore); identity import restores that file into a home.

The backup's passphrase is PARLEY_BACKUP_PASSPHRASE, else PARLEY_PASSPHRASE,
else typed at the terminal; a keystore's is PARLEY_PASSPHRASE or typed. A
backup is never written unencrypted.`,
		Example: `  parley --user alice identity export alice.parley-backup
  parley identity import alice.parley-backup     # on the new machine`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("identity needs a subcommand: export, import or rotate (see parley identity --help)")
		},
	}
	c.AddCommand(a.identityExportCmd(), a.identityImportCmd(), a.identityRotateCmd())
	return c
}

func (a *App) identityExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export FILE",
		Short: "Write your identity to FILE, sealed with a passphrase (- for stdout)",
		Long: `Write the identity of --user to FILE (or stdout, with -), sealed with a
passphrase. FILE must not exist. Keep the file and its passphrase apart:
together they are you. The cluster is not needed.`,
		Example: `  PARLEY_BACKUP_PASSPHRASE='long and secret' parley --user alice identity export alice.parley-backup`,
		Args:    args(1, "a file to write (or - for stdout)"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if a.cfg.User == "" {
				return usagef("no user: pass --user NAME or set PARLEY_USER")
			}
			u, err := names.ParseUser(a.cfg.User)
			if err != nil {
				return err
			}
			out := argv[0]
			if out != "-" {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s exists: export writes a new file", out)
				}
			}
			id, err := a.homeIdentity(u.String())
			if err != nil {
				return err
			}
			pass, err := a.backupPassphrase("Passphrase for the backup: ", true)
			if err != nil {
				return err
			}
			data, err := crypto.MarshalBackup(id, pass)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := fsutil.WriteFileAtomic(out, data, 0o600); err != nil {
				return fmt.Errorf("write backup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s (fingerprint %s) to %s\nrestore it with: parley identity import %s\n", u, id.Public().Fingerprint(), out, out)
			return nil
		},
	}
}

func (a *App) identityImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Restore an identity from a backup into this home (- for stdin)",
		Long: `Restore the identity in FILE (made by identity export, or a copy of a
keystore) into this home, for the user it names (--user, if given, must be
that user). A home that holds another keystore for the user is left as is.
The keystore written is encrypted with PARLEY_PASSPHRASE or a passphrase
typed at the terminal. The cluster is not needed: the next login checks the
keys against the user's record in etcd.

This moves an identity to a new machine; it is not a second device (two
homes holding one identity would number their messages alike): for that,
see parley device link.`,
		Example: `  parley identity import alice.parley-backup && parley --user alice whoami`,
		Args:    args(1, "a backup file (or - for stdin)"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			data, err := readBackup(argv[0], a.env.Stdin)
			if err != nil {
				return err
			}
			var id *crypto.Identity
			src := argv[0]
			if src == "-" {
				src = "stdin"
			}
			switch enc, kerr := crypto.KeystoreEncrypted(data); {
			case crypto.IsBackup(data):
				pass, err := a.backupPassphrase("Passphrase of the backup: ", false)
				if err != nil {
					return err
				}
				if id, err = crypto.UnmarshalBackup(data, pass); err != nil {
					return fmt.Errorf("backup %s: %w", src, err)
				}
			case kerr == nil:
				var pass []byte
				if enc {
					if pass, err = a.passphrase("Passphrase of the keystore: ", false); err != nil {
						return err
					}
				}
				if id, err = crypto.UnmarshalKeystore(data, pass); err != nil {
					return fmt.Errorf("keystore %s: %w", src, err)
				}
			default:
				return fmt.Errorf("%s is not an identity backup (made by parley identity export) nor a keystore", src)
			}
			u, err := names.ParseUser(id.Name())
			if err != nil || u.String() != id.Name() {
				return fmt.Errorf("%s holds the identity of %q, which is not a user name", src, id.Name())
			}
			if a.cfg.User != "" {
				want, err := names.ParseUser(a.cfg.User)
				if err != nil {
					return err
				}
				if want != u {
					return fmt.Errorf("%s holds the identity of %s, not %s", src, u, want)
				}
			}
			done, err := a.installIdentity(id)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if done {
				fmt.Fprintf(w, "this home already holds the identity of %s (fingerprint %s)\n", u, id.Public().Fingerprint())
				return nil
			}
			fmt.Fprintf(w, "imported %s (fingerprint %s) into %s\nlog in as usual: parley --user %s\n", u, id.Public().Fingerprint(), a.cfg.Home, u)
			return nil
		},
	}
}

// readBackup reads a backup from path, or from stdin for "-", bounded.
func readBackup(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBackupSize+1))
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if len(data) > maxBackupSize {
		return nil, fmt.Errorf("%s is too large for an identity backup", path)
	}
	return data, nil
}

// installIdentity writes id's keystore into the home, unless the home
// holds one for the user already: it reports done if that is id itself and
// fails with *identityExistsError if it is not (or cannot be opened). A
// pin of the user's own key that is not id's is refused too: login would
// fail on it.
func (a *App) installIdentity(id *crypto.Identity) (done bool, err error) {
	u := id.Name()
	path := filepath.Join(a.userDir(u), "keystore")
	data, err := readKeystore(path)
	switch {
	case err == nil:
		_, serr := os.Stat(filepath.Join(a.userDir(u), "claimed"))
		exists := &identityExistsError{user: u, path: path, unconfirmed: serr != nil}
		pass := []byte(a.env.getenv("PARLEY_PASSPHRASE"))
		if enc, _ := crypto.KeystoreEncrypted(data); enc && len(pass) == 0 {
			if pass, err = a.passphrase(fmt.Sprintf("Passphrase of the keystore of %s in this home: ", u), false); err != nil {
				return false, exists
			}
		}
		old, err := openKeystore(u, path, data, pass)
		if err != nil || !old.Public().Equal(id.Public()) {
			return false, exists
		}
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
	default:
		return false, err
	}
	pins, err := openPins(a.userDir(u))
	if err != nil {
		return false, err
	}
	if fp := pins.Pinned(u); fp != "" && fp != id.Public().Fingerprint() {
		return false, fmt.Errorf("this home knew %s with another key (%s) than the imported one (%s): import into another --home", u, fp, id.Public().Fingerprint())
	}
	pass, err := a.passphrase(fmt.Sprintf("New passphrase for the keystore of %s (empty for none): ", u), true)
	if err != nil {
		return false, err
	}
	data, err = crypto.MarshalKeystore(id, pass)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// The name claim is confirmed again by the next login, with these keys.
	if err := os.Remove(filepath.Join(a.userDir(u), "claimed")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := fsutil.WriteFileAtomic(path, data, 0o600); err != nil {
		return false, fmt.Errorf("write keystore: %w", err)
	}
	a.warnPlain(u)
	return false, nil
}

// homeIdentity opens the keystore of u in the home; unlike Login it never
// creates one.
func (a *App) homeIdentity(u string) (*crypto.Identity, error) {
	path := filepath.Join(a.userDir(u), "keystore")
	data, err := readKeystore(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no keystore for %s in %s", u, a.cfg.Home)
	}
	if err != nil {
		return nil, err
	}
	var pass []byte
	if enc, err := crypto.KeystoreEncrypted(data); err != nil {
		return nil, fmt.Errorf("keystore %s: %w", path, err)
	} else if enc {
		if pass, err = a.passphrase(fmt.Sprintf("Passphrase for %s: ", u), false); err != nil {
			return nil, err
		}
	}
	return openKeystore(u, path, data, pass)
}

// backupPassphrase returns PARLEY_BACKUP_PASSPHRASE or PARLEY_PASSPHRASE,
// or asks on the terminal (twice for a new backup). A backup always has
// one: without a variable or a terminal it fails with
// crypto.ErrPassphraseRequired.
func (a *App) backupPassphrase(prompt string, isNew bool) ([]byte, error) {
	for _, v := range []string{"PARLEY_BACKUP_PASSPHRASE", "PARLEY_PASSPHRASE"} {
		if p := a.env.getenv(v); p != "" {
			return []byte(p), nil
		}
	}
	if a.env.ReadPassword == nil || !a.env.StdinIsTerminal {
		return nil, errBackupPassphrase{}
	}
	p, err := a.env.ReadPassword(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errBackupPassphrase{}
	}
	if isNew {
		again, err := a.env.ReadPassword("Repeat passphrase: ")
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if string(again) != string(p) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}

func (a *App) identityRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Replace your identity's keys with new ones, signed by the old",
		Long: `Replace the identity keys of --user with new ones. The change is signed by
the old key and kept in etcd beside your record, so everyone who trusted
the old key follows it to the new one (a verified mark too); every room you
are in admits the new key in a commit the old key signs, with a new room
key. Your name, rooms, history and other devices stay.

Run it on the device that holds the identity, with nothing queued in the
outbox. If it stops half way (the cluster went away), run it again: it
finishes the rooms left. Make a new backup afterwards (identity export):
older ones hold the old key.`,
		Example: `  parley --user alice identity rotate`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.User == "" {
				return usagef("no user: pass --user NAME or set PARLEY_USER")
			}
			u, err := names.ParseUser(a.cfg.User)
			if err != nil {
				return err
			}
			return a.rotate(cmd, u.String())
		},
	}
}

func (a *App) rotate(cmd *cobra.Command, u string) error {
	dir := a.userDir(u)
	if ld, err := a.linkedDevice(u); err != nil || ld != nil {
		if err != nil {
			return err
		}
		return chat.ErrLinkedDevice
	}
	if q, err := newFileOutbox(dir).List(); err != nil {
		return err
	} else if len(q) > 0 {
		return fmt.Errorf("%d message(s) of %s wait in the outbox: deliver them first (parley outbox --deliver)", len(q), u)
	}
	ctx, cancel := a.op(cmd)
	defer cancel()
	s, err := a.Service(ctx)
	if err != nil {
		return err
	}
	old := s.Fingerprint()
	// The new keys are kept beside the old until every room has them.
	nextPath := filepath.Join(dir, "keystore.next")
	var next *crypto.Identity
	var pass []byte
	if data, err := readKeystore(nextPath); err == nil {
		if enc, _ := crypto.KeystoreEncrypted(data); enc {
			if pass, err = a.passphrase(fmt.Sprintf("Passphrase of the new keystore of %s: ", u), false); err != nil {
				return err
			}
		}
		if next, err = openKeystore(u, nextPath, data, pass); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	} else {
		var data []byte
		if next, _, data, err = a.newKeys(u, "the new keystore"); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(nextPath, data, 0o600); err != nil {
			return fmt.Errorf("write the new keystore: %w", err)
		}
	}
	rooms, err := s.RotateIdentity(ctx, next)
	w := cmd.OutOrStdout()
	if err != nil {
		if len(rooms) > 0 {
			fmt.Fprintf(w, "the new key is admitted in %d room(s): %s\n", len(rooms), strings.Join(rooms, ", "))
		}
		return fmt.Errorf("%w (the new keys wait in %s: run identity rotate again to finish)", err, nextPath)
	}
	if err := os.Rename(nextPath, filepath.Join(dir, "keystore")); err != nil {
		return fmt.Errorf("install the new keystore: %w", err)
	}
	// My chains of messages were the old identity's device's.
	if err := os.RemoveAll(filepath.Join(dir, "chains")); err != nil {
		a.warn("cannot remove %s: %v", filepath.Join(dir, "chains"), err)
	}
	fmt.Fprintf(w, "rotated the identity of %s: fingerprint %s (was %s)\n", u, next.Public().Fingerprint(), old)
	fmt.Fprintf(w, "the new key is admitted in %d room(s)%s\n", len(rooms), listSuffix(rooms))
	fmt.Fprintf(w, "make a new backup with: parley --user %s identity export FILE (older ones hold the old key)\n", u)
	return nil
}
