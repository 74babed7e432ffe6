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

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/termtext"
)

// Exit codes scripts can rely on.
const (
	ExitOK          = 0
	ExitError       = 1 // any other failure
	ExitUsage       = 2 // bad flags, arguments or names
	ExitUnavailable = 3 // the etcd cluster could not be reached or has no quorum
	ExitRefused     = 4 // refused: not a member, denied, username taken, wrong passphrase, keystore open to others, etcd credentials
	ExitSlow        = 5 // the cluster has a leader and answers, but not within --timeout
	ExitInterrupted = 130
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
		err = app.diagnose(ctx, err)
	}
	app.close()
	if err == nil {
		return ExitOK
	}
	code, hint := classify(err)
	if ctx.Err() != nil && code != ExitUsage {
		code = ExitInterrupted
	}
	msg := oneLine(err)
	if me, uerr := names.User(app.cfg.User); uerr == nil {
		msg = directNames(msg, me)
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
	switch {
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
		errors.Is(err, chat.ErrDirectRoom), errors.Is(err, chat.ErrKeyChanged):
		return ExitRefused, ""
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
