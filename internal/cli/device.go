package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/fsutil"
	"github.com/parley-chat/parley/internal/names"
)

// A linked device's home holds, beside its keystore (this device's own
// keys), device.json: the identity it was linked to and the certificate
// of its keys. A link still waiting for approval lives in link/.
const (
	deviceFile = "device.json"
	linkDir    = "link"
)

// deviceState is device.json.
type deviceState struct {
	User       string `json:"user"`
	SigningKey []byte `json:"identity_signing_key"`
	KEMKey     []byte `json:"identity_kem_key"`
	Recovery   []byte `json:"recovery,omitempty"`
	Cert       []byte `json:"cert"`
}

// linkedDevice returns what the home keeps of u's identity if the home is
// a linked device of u, or nil if it holds the identity itself.
func (a *App) linkedDevice(u string) (*chat.LinkedDevice, error) {
	path := filepath.Join(a.userDir(u), deviceFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d deviceState
	if err := json.Unmarshal(b, &d); err != nil || d.User != u {
		return nil, fmt.Errorf("%s is damaged: link this device again from a new home", path)
	}
	id, err := crypto.NewPublicIdentity(u, d.SigningKey, d.KEMKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &chat.LinkedDevice{Identity: id, Recovery: d.Recovery, Cert: d.Cert}, nil
}

// pendingLink is link/link.json: a link request waiting for approval.
type pendingLink struct {
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
}

func (a *App) deviceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "device",
		Short: "Use your identity on more than one machine",
		Long: `Each machine you use as yourself is a device with keys of its own,
certified by your identity. A new machine asks with "device link", which
shows a one-time code; "device approve CODE", on the machine that holds
your identity, certifies the new device and gives it the keys of every room
you are in, so it reads their whole history and sends as you. "device
revoke" takes a device away: every room you are in drops it and changes
its key, so the device reads nothing sent from then on.

The code is never stored in the cluster: it authenticates what each side
writes there, so whoever runs a member can neither swap the new device's
keys nor hand it another identity.

If every device is lost, "device recover" with the recovery code shown when
you registered makes a new device; each room lists it once a member
approves it (as they approve a join).`,
		Example: `  parley --home ~/laptop --user alice device link     # on the new machine: shows a code
  parley --user alice device approve K7QF-3MZP-XW2D-9HTA    # where alice's identity lives
  parley --user alice device list
  parley --user alice device revoke 3f9a0c21d4e5b687`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("device needs a subcommand: link, approve, list, revoke or recover (see parley device --help)")
		},
	}
	c.AddCommand(a.deviceLinkCmd(), a.deviceApproveCmd(), a.deviceListCmd(), a.deviceRevokeCmd(), a.deviceRecoverCmd())
	return c
}

func (a *App) deviceLinkCmd() *cobra.Command {
	var label string
	var noWait bool
	c := &cobra.Command{
		Use:   "link",
		Short: "Make this home a new device of --user: shows a code to approve elsewhere",
		Long: `Make this home a new device of --user. It makes this device's keys, shows a
one-time code and waits (up to 10 minutes) until a device holding the
identity approves it with "parley device approve CODE". With --no-wait it
shows the code and exits; run "device link" again to finish once approved
(the same code stays valid until it expires).

The home must hold no keystore for the user. This device's keystore is
encrypted with PARLEY_PASSPHRASE or a passphrase typed at the terminal.`,
		Example: `  parley --home ~/laptop --user alice device link --label laptop`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.User == "" {
				return usagef("no user: pass --user NAME or set PARLEY_USER")
			}
			u, err := names.ParseUser(a.cfg.User)
			if err != nil {
				return err
			}
			return a.link(cmd, u.String(), label, noWait)
		},
	}
	c.Flags().StringVar(&label, "label", "", "a name for this device, shown in device list (at most 64 bytes)")
	c.Flags().BoolVar(&noWait, "no-wait", false, "show the code and exit; run device link again to finish")
	return c
}

func (a *App) link(cmd *cobra.Command, u, label string, noWait bool) error {
	dir := a.userDir(u)
	ks := filepath.Join(dir, "keystore")
	if _, err := os.Stat(ks); err == nil {
		if ld, _ := a.linkedDevice(u); ld != nil {
			return fmt.Errorf("this home is already a linked device of %s", u)
		}
		return fmt.Errorf("this home already holds the identity of %s (%s): link a new device from another home", u, ks)
	}
	pdir := filepath.Join(dir, linkDir)
	w := cmd.OutOrStdout()
	ctx, cancel := context.WithTimeout(cmd.Context(), chat.LinkTTL)
	defer cancel()
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	// Resume a pending link, or start one.
	var dev *crypto.Identity
	var pass []byte
	var pl *chat.PendingLink
	var p pendingLink
	if b, err := os.ReadFile(filepath.Join(pdir, "link.json")); err == nil && json.Unmarshal(b, &p) == nil && time.Now().Before(p.Expires) {
		data, err := readKeystore(filepath.Join(pdir, "keystore"))
		if err != nil {
			return err
		}
		if enc, _ := crypto.KeystoreEncrypted(data); enc {
			if pass, err = a.passphrase(fmt.Sprintf("Passphrase of this device's keystore for %s: ", u), false); err != nil {
				return err
			}
		}
		if dev, err = openKeystore(u, filepath.Join(pdir, "keystore"), data, pass); err != nil {
			return err
		}
		code, err := crypto.ParseLinkCode(p.Code)
		if err != nil {
			return fmt.Errorf("%s is damaged: remove it and link again", pdir)
		}
		pl = chat.ResumeLink(st, dev, code)
	} else {
		var data []byte
		if dev, pass, data, err = a.newKeys(u, "this device's keystore"); err != nil {
			return err
		}
		if pl, err = chat.StartLink(ctx, st, dev, label, time.Now()); err != nil {
			return err
		}
		p = pendingLink{Code: pl.Code.String(), Expires: time.Now().Add(chat.LinkTTL)}
		pb, _ := json.Marshal(p)
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(pdir, "keystore"), data, 0o600); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(pdir, "link.json"), pb, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "link code: %s\n", p.Code)
	fmt.Fprintf(w, "on a device that holds the identity of %s, run:\n  parley --user %s device approve %s\n", u, u, p.Code)
	if noWait {
		fmt.Fprintf(w, "the code is valid until %s; then run parley --user %s device link again here to finish\n", p.Expires.Local().Format("15:04:05"), u)
		return nil
	}
	fmt.Fprintf(w, "waiting for approval (until %s; Ctrl-C to stop)...\n", p.Expires.Local().Format("15:04:05"))
	wctx, wcancel := context.WithDeadline(ctx, p.Expires)
	defer wcancel()
	ld, err := pl.Wait(wctx)
	if err != nil {
		if wctx.Err() != nil && cmd.Context().Err() == nil {
			_ = os.RemoveAll(pdir)
			return fmt.Errorf("no device approved the link before the code expired: run device link again for a new code")
		}
		if errors.Is(err, chat.ErrLinkTampered) {
			_ = os.RemoveAll(pdir)
		}
		return err
	}
	d := deviceState{User: u, SigningKey: ld.Identity.SigningKey(), KEMKey: ld.Identity.KEMKey(), Cert: ld.Cert}
	db, _ := json.Marshal(d)
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, deviceFile), db, 0o600); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(pdir, "keystore"), ks); err != nil {
		return err
	}
	_ = os.RemoveAll(pdir)
	fmt.Fprintf(w, "linked: this home is device %s of %s (identity fingerprint %s)\n", chat.DeviceIDOf(dev.Public()), u, ld.Identity.Fingerprint())
	fmt.Fprintf(w, "compare the fingerprint with parley --user %s whoami on the device that approved it\n", u)
	return nil
}

func (a *App) deviceApproveCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "approve CODE",
		Short: "Approve a new device of yours with the code it shows",
		Long: `Certify the device that shows CODE as a device of --user, and give it the
keys of every room you are in (it reads their whole history). Run it on the
device that holds the identity (where it was created or imported).`,
		Example: `  parley --user alice device approve K7QF-3MZP-XW2D-9HTA`,
		Args:    args(1, "the code the new device shows"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			code, err := crypto.ParseLinkCode(argv[0])
			if err != nil {
				return usagef("%v", err)
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				d, rooms, err := s.ApproveLink(ctx, code)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, map[string]any{"device": d, "rooms": rooms})
				}
				label := ""
				if d.Label != "" {
					label = " (" + d.Label + ")"
				}
				fmt.Fprintf(w, "approved device %s%s of %s; it is listed in %d room(s)%s\n", d.ID, label, s.Me(), len(rooms), listSuffix(rooms))
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *App) deviceListCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [USER]",
		Short: "List the devices of --user (or of USER)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				user := s.Me()
				if len(argv) == 1 {
					u, err := names.ParseUser(argv[0])
					if err != nil {
						return err
					}
					user = u.String()
				}
				ds, err := s.Devices(ctx, user)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, ds)
				}
				for _, d := range ds {
					var notes []string
					if d.Identity {
						notes = append(notes, "identity")
					} else if !d.Created.IsZero() {
						notes = append(notes, "added "+d.Created.Local().Format("2006-01-02 15:04"))
					}
					if !d.Revoked.IsZero() {
						notes = append(notes, "revoked "+d.Revoked.Local().Format("2006-01-02 15:04"))
					}
					if d.This {
						notes = append(notes, "this device")
					}
					label := d.Label
					if d.Identity || label == "" {
						label = "-"
					}
					fmt.Fprintf(w, "%s  %-16s  %s\n", d.ID, label, strings.Join(notes, ", "))
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *App) deviceRevokeCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "revoke DEVICE",
		Short: "Take a device of yours away: it reads nothing sent from now on",
		Long: `Revoke one of your devices (its id, from device list). Every room you are
in drops it and changes its key in the same commit: the device reads
nothing sent from then on, and cannot send as you. What it sent before
stays yours. Run it on the device that holds the identity.`,
		Example: `  parley --user alice device revoke 3f9a0c21d4e5b687`,
		Args:    args(1, "a device id (see parley device list)"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id := strings.ToLower(strings.TrimSpace(argv[0]))
			if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
				return usagef("%q is not a device id (16 hex digits, see parley device list)", argv[0])
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				rooms, err := s.RevokeDevice(ctx, id)
				w := cmd.OutOrStdout()
				if err != nil {
					if len(rooms) > 0 {
						fmt.Fprintf(w, "revoked device %s; dropped from %d room(s)%s, but not from all:\n", id, len(rooms), listSuffix(rooms))
					}
					return err
				}
				if asJSON {
					return printJSON(w, map[string]any{"device": id, "rooms": rooms})
				}
				fmt.Fprintf(w, "revoked device %s of %s; dropped from %d room(s), each with a new key%s\n", id, s.Me(), len(rooms), listSuffix(rooms))
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// newKeys makes new keys for u and their keystore (what names it in the
// passphrase prompt), encrypted with PARLEY_PASSPHRASE or a passphrase
// typed at the terminal (none if empty).
func (a *App) newKeys(u, what string) (id *crypto.Identity, pass, keystore []byte, err error) {
	if id, err = crypto.NewIdentity(u); err != nil {
		return nil, nil, nil, err
	}
	if pass, err = a.passphrase(fmt.Sprintf("New passphrase for %s of %s (empty for none): ", what, u), true); err != nil {
		return nil, nil, nil, err
	}
	if keystore, err = crypto.MarshalKeystore(id, pass); err != nil {
		return nil, nil, nil, err
	}
	return id, pass, keystore, nil
}

func listSuffix(rooms []string) string {
	if len(rooms) == 0 {
		return ""
	}
	return ": " + strings.Join(rooms, ", ")
}

func (a *App) deviceRecoverCmd() *cobra.Command {
	var label string
	c := &cobra.Command{
		Use:   "recover",
		Short: "Make this home a new device of --user with the recovery code, when every device is lost",
		Long: `Make this home a new device of --user with the recovery code shown when the
user registered (PARLEY_RECOVERY_CODE, or typed at the terminal). The code
certifies the device; then each room you are in is asked to list it, and a
member approves it there as they approve a join (parley approve ROOM USER,
or !USER in the chat). Once approved, the device reads the room's whole
history and sends as you.

The home must hold no keystore for the user. This device's keystore is
encrypted with PARLEY_PASSPHRASE or a passphrase typed at the terminal.`,
		Example: `  parley --home ~/new-laptop --user alice device recover --label new-laptop`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.User == "" {
				return usagef("no user: pass --user NAME or set PARLEY_USER")
			}
			u, err := names.ParseUser(a.cfg.User)
			if err != nil {
				return err
			}
			return a.recover(cmd, u.String(), label)
		},
	}
	c.Flags().StringVar(&label, "label", "", "a name for this device, shown in device list (at most 64 bytes)")
	return c
}

// recoveryCode returns PARLEY_RECOVERY_CODE, or asks on the terminal.
func (a *App) recoveryCodeInput(u string) (crypto.RecoveryCode, error) {
	s := a.env.getenv("PARLEY_RECOVERY_CODE")
	if s == "" {
		if a.env.ReadPassword == nil || !a.env.StdinIsTerminal {
			return crypto.RecoveryCode{}, usagef("no recovery code: set PARLEY_RECOVERY_CODE or run parley in a terminal")
		}
		b, err := a.env.ReadPassword(fmt.Sprintf("Recovery code of %s: ", u))
		if err != nil {
			return crypto.RecoveryCode{}, fmt.Errorf("read the recovery code: %w", err)
		}
		s = string(b)
	}
	code, err := crypto.ParseRecoveryCode(s)
	if err != nil {
		return code, usagef("%v", err)
	}
	return code, nil
}

func (a *App) recover(cmd *cobra.Command, u, label string) error {
	dir := a.userDir(u)
	ks := filepath.Join(dir, "keystore")
	if _, err := os.Stat(ks); err == nil {
		return fmt.Errorf("this home already holds keys of %s (%s): recover into a new home", u, ks)
	}
	code, err := a.recoveryCodeInput(u)
	if err != nil {
		return err
	}
	ctx, cancel := a.op(cmd)
	defer cancel()
	st, err := a.Store(ctx)
	if err != nil {
		return err
	}
	dev, pass, data, err := a.newKeys(u, "this device's keystore")
	if err != nil {
		return err
	}
	ld, err := chat.RecoverDevice(ctx, st, dev, code, label, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d := deviceState{User: u, SigningKey: ld.Identity.SigningKey(), KEMKey: ld.Identity.KEMKey(), Recovery: ld.Recovery, Cert: ld.Cert}
	db, _ := json.Marshal(d)
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, deviceFile), db, 0o600); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(ks, data, 0o600); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "recovered: this home is device %s of %s (identity fingerprint %s)\n", chat.DeviceIDOf(dev.Public()), u, ld.Identity.Fingerprint())
	s, err := a.Login(ctx, u, pass)
	if err != nil {
		return err
	}
	rooms, err := s.RequestDevice(ctx)
	if len(rooms) > 0 {
		fmt.Fprintf(w, "asked %d room(s) to list this device: %s\n", len(rooms), strings.Join(rooms, ", "))
		fmt.Fprintf(w, "a member of each approves it with: parley approve ROOM %s\n", u)
	}
	return err
}
