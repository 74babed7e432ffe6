// Package cli is Parley's command line: flags, configuration precedence,
// output formats and exit codes. Every action is one call into package
// chat; cli holds no chat logic of its own and never touches etcd keys.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/termtext"
)

// Exit codes scripts can rely on.
const (
	ExitOK          = 0
	ExitError       = 1 // any other failure
	ExitUsage       = 2 // bad flags, arguments or names
	ExitUnavailable = 3 // the etcd cluster could not be reached or has no quorum
	ExitRefused     = 4 // refused: not a member, denied, username taken, a changed key, wrong passphrase, keystore open to others, etcd credentials, a client certificate missing or rejected
	ExitSlow        = 5 // the cluster has a leader and answers, but not within --timeout
	// Joining a cluster of machines (parley join-cluster), each cause its own code.
	ExitTokenWrong     = 6  // the cluster knows no invitation with this id and secret
	ExitTokenExpired   = 7  // the invitation expired
	ExitTokenUsed      = 8  // the invitation was used already
	ExitTokenRevoked   = 9  // the invitation was revoked
	ExitIdentityFailed = 10 // the cluster's CA is not the invitation's (digest mismatch), or a member's certificate is not from the pinned CA
	ExitInterrupted    = 130
)

// Env is what a run of parley sees of its surroundings. Tests construct it
// directly; main fills it from the process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads environment variables; nil means none are set.
	Getenv func(string) string
	// StdinIsTerminal and StdoutIsTerminal report whether they are ttys.
	StdinIsTerminal, StdoutIsTerminal bool
	// ReadPassword reads a passphrase from the terminal without echo; nil
	// means no terminal is available.
	ReadPassword func(prompt string) ([]byte, error)
	// RunTUI starts the full-screen interface; nil means it is not built in.
	RunTUI func(ctx context.Context, a *App) error
}

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// Main runs parley with args (without the program name) and returns the
// process exit code. Errors are printed as one line on stderr.
//
// Everything parley prints on stdout and stderr, messages, names, reasons,
// notices, warnings and errors, passes one sanitiser ([termtext.Clean]) on
// its way out, so no text from the network can drive the terminal. JSON
// output is written with those characters already escaped (see printJSON),
// so the sanitiser leaves it exact.
func Main(ctx context.Context, args []string, env *Env) int {
	e := *env
	e.Stdout = termtext.NewWriter(env.Stdout)
	e.Stderr = termtext.NewWriter(env.Stderr)
	env = &e
	app := &App{env: env}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() == nil {
		err = app.explain(ctx, err)
		err = app.diagnose(ctx, err)
	}
	app.close()
	if app.abort != nil {
		app.abort(nil)
	}
	if err == nil {
		return ExitOK
	}
	code, hint := classify(err)
	if ctx.Err() != nil && code != ExitUsage {
		code = ExitInterrupted
	}
	msg := oneLine(err)
	if me, uerr := names.ParseUser(app.cfg.User); uerr == nil {
		msg = directNames(msg, me.String())
	}
	fmt.Fprintf(env.Stderr, "parley: error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(env.Stderr, "parley: hint: %s\n", hint)
	}
	return code
}

// usageError is a mistake in the command line: bad flags, arguments or
// an unknown command. It exits 2, with an optional hint.
type usageError struct {
	err  error
	hint string
}

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{err: fmt.Errorf(format, args...)} }

func classify(err error) (code int, hint string) {
	var ue usageError
	var km *keystoreModeError
	var nu *noUserError
	var nd *noDirectRoomError
	var nt *nameTakenError
	var ie *identityExistsError
	var te *store.TLSError
	switch {
	case errors.As(err, &nt):
		return ExitRefused, nt.hint()
	case errors.As(err, &ie):
		return ExitRefused, ie.hint()
	case errors.As(err, &te):
		return tlsExit(te)
	case errors.Is(err, node.ErrTokenMalformed):
		return ExitUsage, "pass the whole line parley invite printed, in quotes"
	case errors.Is(err, node.ErrTokenWrong):
		return ExitTokenWrong, "check that the whole line was copied, or ask a member for a new invitation (parley invite)"
	case errors.Is(err, node.ErrTokenExpired):
		return ExitTokenExpired, "ask a member for a new invitation (parley invite --ttl ...)"
	case errors.Is(err, node.ErrTokenUsed):
		return ExitTokenUsed, "an invitation admits one machine unless made with --uses; ask a member for a new one"
	case errors.Is(err, node.ErrTokenRevoked):
		return ExitTokenRevoked, "ask a member for a new invitation"
	case errors.Is(err, node.ErrDigestMismatch):
		return ExitIdentityFailed, "check the address in the invitation and the network in between; ask the member that invited you to compare the CA digest (parley invite --json shows it)"
	case errors.Is(err, node.ErrCertRevoked):
		return ExitRefused, "this machine was removed from the cluster; join again with a new invitation, from a new home"
	case errors.As(err, &nu):
		return ExitError, nu.hint()
	case errors.As(err, &nd):
		return ExitError, nd.hint()
	case errors.As(err, &ue):
		return ExitUsage, ue.hint
	case errors.Is(err, names.ErrInvalid):
		return ExitUsage, ""
	case errors.As(err, &km):
		return ExitRefused, km.hint()
	case errors.Is(err, store.ErrSlow):
		return ExitSlow, "the cluster is slow or overloaded; try a longer --timeout"
	case errors.Is(err, store.ErrUnavailable):
		return ExitUnavailable, "check --endpoints (or PARLEY_ENDPOINTS) and that a quorum of etcd members is up"
	case errors.Is(err, crypto.ErrWrongPassphrase):
		return ExitRefused, ""
	case errors.Is(err, store.ErrPermission):
		return ExitRefused, "check --etcd-user and --etcd-password (or PARLEY_ETCD_USER and PARLEY_ETCD_PASSWORD), and that the etcd user's role may read and write keys under " + store.Prefix
	case errors.Is(err, crypto.ErrPassphraseRequired):
		return ExitRefused, "set PARLEY_PASSPHRASE or run parley in a terminal"
	case errors.Is(err, chat.ErrNameTaken):
		return ExitRefused, "pick another name with --user, or use the home holding that user's keys"
	case errors.Is(err, chat.ErrNotMember):
		return ExitRefused, "ask to join with: parley join ROOM --wait"
	case errors.Is(err, chat.ErrNotYours):
		return ExitRefused, "only your own messages can be edited or deleted"
	case errors.Is(err, chat.ErrNoTarget):
		return ExitError, noTargetHint
	case errors.Is(err, chat.ErrEmptyQuery):
		return ExitUsage, ""
	case errors.Is(err, chat.ErrDenied), errors.Is(err, chat.ErrNotAllowed),
		errors.Is(err, chat.ErrDirectRoom):
		return ExitRefused, ""
	case errors.Is(err, chat.ErrKeyChanged):
		return ExitRefused, keyChangedHint(err)
	case errors.Is(err, chat.ErrBadRecovery):
		return ExitRefused, "type the code exactly as it was shown when the user registered; if it is right, someone with write access to etcd replaced the user's record"
	case errors.Is(err, chat.ErrNoLink):
		return ExitRefused, "run parley device link on the new machine for a new code, and type it as it shows it"
	case errors.Is(err, chat.ErrLinkTampered):
		return ExitIdentityFailed, "someone with write access to etcd interfered with the link; link again, and compare the identity fingerprint with parley whoami on both devices"
	case errors.Is(err, chat.ErrLinkedDevice), errors.Is(err, chat.ErrTooManyDevice):
		return ExitRefused, ""
	case errors.Is(err, chat.ErrDeviceNotListed):
		return ExitRefused, "if this device was revoked, link it again from a new home (parley device link); if it was just linked, try again in a moment"
	}
	return ExitError, ""
}

// diagnose tells a cluster that timed out for being slow from one that is
// down (see store.Diagnose), through the connection the command used.
func (a *App) diagnose(ctx context.Context, err error) error {
	if a.st == nil {
		return err
	}
	return a.st.Diagnose(ctx, err)
}

func oneLine(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}

// tlsExit maps a TLS failure to its exit code and hint.
func tlsExit(te *store.TLSError) (int, string) {
	switch te.Problem {
	case store.TLSUnknownAuthority, store.TLSBadServerCert:
		return ExitIdentityFailed, "check --cacert (or PARLEY_CACERT, or the CA in the home's cluster directory) and the endpoints"
	case store.TLSNoClientCert:
		return ExitRefused, "pass --cert and --key (or PARLEY_CERT and PARLEY_KEY), or join the cluster with parley join-cluster"
	case store.TLSClientCertRejected:
		return ExitRefused, "this machine's certificate was revoked (the machine was removed) or is from another cluster; join again with a new invitation, from a new home"
	}
	return ExitError, "check the scheme of --endpoints (or PARLEY_ENDPOINTS)"
}

// explain replaces an unavailable cluster by the TLS failure that made
// it unreachable, if that is what happened: etcd's client reports only a
// deadline.
func (a *App) explain(ctx context.Context, err error) error {
	if te := a.probe.found(); te != nil {
		return te
	}
	if !errors.Is(err, store.ErrUnavailable) || len(a.dialed) == 0 {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if te := store.ProbeTLS(pctx, a.dialed, a.dialedTLS); te != nil {
		return te
	}
	return err
}
