package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/fsutil"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
)

// Config is the resolved configuration of one run. Precedence: flag, then
// PARLEY_* environment variable, then the home's cluster file
// (<home>/cluster/cluster.json, written by parley host and parley
// join-cluster), then default.
type Config struct {
	// Endpoints of an existing etcd cluster; empty means the shared local
	// member in Home.
	Endpoints []string
	// Home holds keystores, pinned keys, logs and the local member's data.
	// Default: $XDG_DATA_HOME/parley (~/.local/share/parley).
	Home string
	// User is the user name to act as; empty means ask (TUI) or fail (CLI).
	User string
	// Timeout bounds each non-interactive operation; zero means 15s. An
	// operation of many round trips (read, rooms, the interface's room
	// list) gets it for each round trip instead: see package watchdog.
	Timeout time.Duration
	// CACert verifies the members of an https cluster; Cert and Key
	// identify this client to members that require client certificates.
	CACert, Cert, Key string
	// EtcdUser and EtcdPassword authenticate to a cluster with etcd's
	// authentication enabled (role-based access control).
	EtcdUser, EtcdPassword string
	// NoBell keeps the full-screen chat from ringing the terminal bell or
	// raising desktop notifications (--no-bell, PARLEY_NO_BELL); false
	// rings them for mentions and direct messages.
	NoBell bool
	// ShareTyping and ShareRead let the other members of a room see when
	// I type there and how far I have read (--share-typing, --share-read,
	// PARLEY_SHARE_TYPING, PARLEY_SHARE_READ); false, the default, shares
	// neither.
	ShareTyping, ShareRead bool
}

// App is one run of parley: its configuration and, once opened, its
// connection and logged-in service.
type App struct {
	env *Env
	cfg Config

	// home is the home's cluster file, nil if the home belongs to no
	// cluster of machines. Read once, before the command runs.
	home *homeCluster
	// dialed are the endpoints and TLS settings of the last connection
	// made, for explaining a failure (tlsProbe).
	dialed    []string
	dialedTLS *tls.Config
	// staleAsOf is set while a history read without a quorum is printed
	// (stale.go); the zero time if its age is unknown.
	staleAsOf *time.Time
	// abort ends the command's context; probe is the TLS check started
	// with the connection (tlsprobe.go).
	abort context.CancelCauseFunc
	probe *tlsProbe

	local *node.Shared
	st    *store.Client
	svc   *chat.Service
	logf  *os.File

	// tui is set while the full-screen interface owns the terminal:
	// nothing may then be printed.
	tui bool
	// recoveryCode is a new user's recovery code, for the terminal UI.
	recoveryCode string
	// deliverWait, if set, bounds each queued message's delivery instead
	// of queueAfter: outbox --deliver gives each the whole --timeout.
	deliverWait time.Duration

	stderrMu sync.Mutex // serialises lines written to stderr by note
	loginMu  sync.Mutex // one Login at a time
}

func defaultHome(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "parley")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "parley")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "parley")
	}
	return ".parley"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Config returns the resolved configuration.
func (a *App) Config() Config { return a.cfg }

// logger returns the diagnostics logger, writing to a file in the home.
func (a *App) logger() *slog.Logger {
	if a.logf == nil {
		if err := os.MkdirAll(filepath.Join(a.cfg.Home, "logs"), 0o700); err == nil {
			f, err := os.OpenFile(filepath.Join(a.cfg.Home, "logs", "parley.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err == nil {
				a.logf = f
			}
		}
	}
	if a.logf == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(a.logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Store connects to the cluster: the configured endpoints, or the shared
// local member of the home (started here if no process hosts it yet).
func (a *App) Store(ctx context.Context) (*store.Client, error) {
	if a.st != nil {
		return a.st, nil
	}
	if err := os.MkdirAll(a.cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("create home %s: %w", a.cfg.Home, err)
	}
	eps := a.cfg.Endpoints
	if len(eps) == 0 {
		sh, err := node.Local(ctx, a.cfg.Home, a.logger())
		if err != nil {
			return nil, fmt.Errorf("start local etcd member in %s: %w", a.cfg.Home, err)
		}
		a.local = sh
		eps = sh.Endpoints()
	}
	tlsCfg, err := clientTLS(eps, a.cfg.CACert, a.cfg.Cert, a.cfg.Key)
	if err != nil {
		return nil, err
	}
	a.dialed, a.dialedTLS = eps, tlsCfg
	a.startProbe(eps, tlsCfg)
	var quorumLost func() bool
	if hc := a.home; hc != nil && node.RunsMember(hc.Role) {
		quorumLost = func() bool { return hc.quorumLost(a.cfg.Home) }
	}
	st, err := store.Open(store.Config{
		Endpoints:  eps,
		TLS:        tlsCfg,
		Username:   a.cfg.EtcdUser,
		Password:   a.cfg.EtcdPassword,
		LogFile:    filepath.Join(a.cfg.Home, "logs", "etcd-client.log"),
		Logger:     a.logger(),
		QuorumLost: quorumLost,
	})
	if err != nil {
		return nil, err
	}
	a.st = st
	return st, nil
}

// Service logs in as the configured user, creating the identity on first
// use of the name in this home.
func (a *App) Service(ctx context.Context) (*chat.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	if a.cfg.User == "" {
		return nil, usagef("no user: pass --user NAME or set PARLEY_USER")
	}
	return a.Login(ctx, a.cfg.User, nil)
}

// Login logs in as user. passphrase, if not nil, is used for the keystore
// instead of PARLEY_PASSPHRASE or a prompt.
func (a *App) Login(ctx context.Context, user string, passphrase []byte) (*chat.Service, error) {
	// The terminal UI may start a login while one it gave up on ends.
	a.loginMu.Lock()
	defer a.loginMu.Unlock()
	pu, err := names.ParseUser(user)
	if err != nil {
		return nil, err
	}
	u := pu.String()
	id, created, err := a.identity(u, passphrase)
	if err != nil {
		return nil, err
	}
	st, err := a.Store(ctx)
	if err != nil {
		return nil, err
	}
	pins, err := openPins(a.userDir(u))
	if err != nil {
		return nil, err
	}
	linked, err := a.linkedDevice(u)
	if err != nil {
		return nil, err
	}
	claimed := filepath.Join(a.userDir(u), "claimed")
	_, statErr := os.Stat(claimed)
	// A login that may register the user makes a recovery code; it is
	// shown if this login registered them, and never again.
	var code crypto.RecoveryCode
	var recovery *crypto.Identity
	if statErr != nil && linked == nil {
		code = crypto.NewRecoveryCode()
		if recovery, err = code.RecoveryIdentity(u); err != nil {
			return nil, err
		}
	}
	outboxWait := a.deliverWait
	if outboxWait <= 0 {
		outboxWait = a.queueAfter()
	}
	svc, err := chat.Login(ctx, st, id, chat.Options{
		Logger: a.logger(), Pins: pins,
		Outbox:     newFileOutbox(a.userDir(u)),
		OutboxWait: outboxWait,
		Verified:   newFileVerified(a.userDir(u)),
		RoomPins:   newFileRoomPins(a.userDir(u)),
		Heads:      newFileHeads(a.userDir(u)),
		ReadMarks:  openReadMarks(a.userDir(u)),
		Claimed:    statErr == nil,
		Linked:     linked,
		Recovery:   recovery,
	})
	if errors.Is(err, chat.ErrNameTaken) {
		// A keystore made just now for a name that other keys hold is
		// of no use: nameTaken removes it, and warns of nothing.
		return nil, a.nameTaken(u, created, err)
	}
	if created {
		a.warnPlain(u)
	}
	if err != nil {
		return nil, err
	}
	if statErr != nil {
		if err := os.WriteFile(claimed, nil, 0o600); err != nil {
			return nil, err
		}
	}
	if svc.Registered() && recovery != nil {
		a.showRecoveryCode(u, code)
	}
	// Messages queued while the cluster was unavailable are delivered by
	// the commands that send (and by read --follow and the chat), in the
	// background; a command that does not send is not held up by them.
	a.svc = svc
	return svc, nil
}

// showRecoveryCode shows a new user's recovery code, once: on stderr, or
// kept for the terminal UI to show (TakeRecoveryCode).
func (a *App) showRecoveryCode(u string, code crypto.RecoveryCode) {
	if a.tui {
		a.recoveryCode = code.String()
		return
	}
	a.note("parley: recovery code of %s: %s", u, code)
	a.note("parley: it is shown only now: write it down and keep it away from this machine; if you lose every device, parley device recover gives you a new one with it")
}

// TakeRecoveryCode returns the recovery code of the user the last login
// registered, once; "" if none.
func (a *App) TakeRecoveryCode() string {
	c := a.recoveryCode
	a.recoveryCode = ""
	return c
}

// queueAfter is how long a message waits for the cluster before it goes
// to the outbox, and how long a queued message's delivery may take.
func (a *App) queueAfter() time.Duration { return min(a.cfg.Timeout/2, 5*time.Second) }

func (a *App) userDir(u string) string { return filepath.Join(a.cfg.Home, "users", u) }

// KeystoreExists reports whether the home holds a keystore for user, and
// whether it is encrypted.
// A keystore open to other users counts as unencrypted: logging in then
// fails at once, saying why, instead of asking for a passphrase first.
func (a *App) KeystoreExists(user string) (exists, encrypted bool) {
	data, err := readKeystore(filepath.Join(a.userDir(user), "keystore"))
	if errors.As(err, new(*keystoreModeError)) {
		return true, false
	}
	if err != nil {
		return false, false
	}
	enc, err := crypto.KeystoreEncrypted(data)
	return true, err == nil && enc
}

// identity loads user's keystore from the home, or creates a new identity
// (created is then true).
func (a *App) identity(u string, pass []byte) (id *crypto.Identity, created bool, err error) {
	path := filepath.Join(a.userDir(u), "keystore")
	data, err := readKeystore(path)
	switch {
	case err == nil:
		enc, err := crypto.KeystoreEncrypted(data)
		if err != nil {
			return nil, false, fmt.Errorf("keystore %s: %w", path, err)
		}
		if enc && pass == nil {
			if pass, err = a.passphrase(fmt.Sprintf("Passphrase for %s: ", u), false); err != nil {
				return nil, false, err
			}
		}
		id, err = openKeystore(u, path, data, pass)
		return id, false, err
	case errors.Is(err, fs.ErrNotExist):
	case errors.As(err, new(*keystoreModeError)):
		return nil, false, err
	default:
		return nil, false, fmt.Errorf("read keystore: %w", err)
	}
	if _, err := os.Stat(filepath.Join(a.userDir(u), linkDir, "link.json")); err == nil {
		return nil, false, fmt.Errorf("this home is a device of %s waiting for its link to be approved: finish with parley --user %s device link", u, u)
	}
	id, err = crypto.NewIdentity(u)
	if err != nil {
		return nil, false, err
	}
	if pass == nil {
		if pass, err = a.passphrase(fmt.Sprintf("New passphrase for %s (empty for none): ", u), true); err != nil {
			return nil, false, err
		}
	}
	data, err = crypto.MarshalKeystore(id, pass)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := fsutil.WriteFileAtomic(path, data, 0o600); err != nil {
		return nil, false, fmt.Errorf("write keystore: %w", err)
	}
	return id, true, nil
}

// openKeystore opens the keystore data of user u, read from path.
func openKeystore(u, path string, data, pass []byte) (*crypto.Identity, error) {
	id, err := crypto.UnmarshalKeystore(data, pass)
	if err != nil {
		return nil, fmt.Errorf("keystore of %s: %w", u, err)
	}
	if id.Name() != u {
		return nil, fmt.Errorf("keystore %s holds user %q, not %q", path, id.Name(), u)
	}
	return id, nil
}

// warnPlain warns, outside the terminal UI, that u's new keystore is not
// encrypted.
func (a *App) warnPlain(u string) {
	if exists, enc := a.KeystoreExists(u); exists && !enc && !a.tui {
		path := filepath.Join(a.userDir(u), "keystore")
		a.warn("the keystore of %s is not encrypted: whoever can read %s can act as %s (set PARLEY_PASSPHRASE when creating it to encrypt it)", u, path, u)
	}
}

// passphrase returns PARLEY_PASSPHRASE, or asks on the terminal. For a new
// keystore with no terminal and no variable, it returns an empty passphrase
// (the keystore is then protected by file permissions only).
func (a *App) passphrase(prompt string, isNew bool) ([]byte, error) {
	if p := a.env.getenv("PARLEY_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if a.env.ReadPassword == nil || !a.env.StdinIsTerminal {
		if isNew {
			return []byte{}, nil
		}
		return nil, crypto.ErrPassphraseRequired
	}
	p, err := a.env.ReadPassword(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if isNew && len(p) > 0 {
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

func (a *App) close() {
	a.probe.stop()
	if a.st != nil {
		a.st.Close()
	}
	if a.local != nil {
		a.local.Close()
	}
	if a.logf != nil {
		a.logf.Close()
	}
}
