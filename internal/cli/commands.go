package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/termtext"
)

func (a *App) rootCommand() *cobra.Command {
	var endpoints, home, user string
	var timeout time.Duration
	var cacert, cert, key, etcdUser, etcdPassword string
	var noBell, shareTyping, shareRead bool
	root := &cobra.Command{
		Use:   "parley",
		Short: "End-to-end encrypted terminal chat on etcd",
		Long: `Parley is an end-to-end encrypted chat for the terminal whose storage is an
etcd cluster. With no command it opens the full-screen chat.

With no --endpoints it runs (or shares) a single etcd member in its home
directory; with --endpoints it uses an existing etcd cluster (etcd >= 3.4).`,
		Example: `  parley                                  # open the chat
  parley --user alice create general
  parley --user bob join general --wait   # waits until a member approves
  parley --user alice approve general bob
  echo hello | parley --user bob send general -
  parley --user bob read general --follow --json
  PARLEY_ENDPOINTS=10.0.0.1:2379,10.0.0.2:2379 parley --user alice rooms`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g := a.env.getenv
			a.cfg.Home = firstNonEmpty(home, g("PARLEY_HOME"), defaultHome(g))
			hc, err := loadHomeCluster(a.cfg.Home)
			if err != nil {
				return err
			}
			a.home = hc
			var fileCA, fileCert, fileKey string
			var fileEndpoints []string
			if hc != nil {
				fileEndpoints = hc.Endpoints
				fileCA = clusterPath(a.cfg.Home, caCertFile)
				fileCert, fileKey = clusterPath(a.cfg.Home, certFile), clusterPath(a.cfg.Home, keyFile)
			}
			a.cfg.Endpoints = splitList(firstNonEmpty(endpoints, g("PARLEY_ENDPOINTS")))
			if len(a.cfg.Endpoints) == 0 {
				a.cfg.Endpoints = fileEndpoints
			}
			a.cfg.User = firstNonEmpty(user, g("PARLEY_USER"))
			a.cfg.Timeout = timeout
			a.cfg.CACert = firstNonEmpty(cacert, g("PARLEY_CACERT"), fileCA)
			a.cfg.Cert = firstNonEmpty(cert, g("PARLEY_CERT"), fileCert)
			a.cfg.Key = firstNonEmpty(key, g("PARLEY_KEY"), fileKey)
			a.cfg.EtcdUser = firstNonEmpty(etcdUser, g("PARLEY_ETCD_USER"))
			a.cfg.EtcdPassword = firstNonEmpty(etcdPassword, g("PARLEY_ETCD_PASSWORD"))
			if u, p, ok := strings.Cut(a.cfg.EtcdUser, ":"); ok {
				// etcdctl's USER:PASSWORD; --etcd-password still wins.
				a.cfg.EtcdUser = u
				if etcdPassword == "" {
					a.cfg.EtcdPassword = p
				}
			}
			a.cfg.NoBell = noBell || envTrue(g("PARLEY_NO_BELL"))
			a.cfg.ShareTyping = shareTyping || envTrue(g("PARLEY_SHARE_TYPING"))
			a.cfg.ShareRead = shareRead || envTrue(g("PARLEY_SHARE_READ"))
			if a.cfg.EtcdUser != "" && len(a.cfg.Endpoints) == 0 {
				return usagef("--etcd-user is for a cluster given with --endpoints; the local member needs no login")
			}
			if a.cfg.Timeout <= 0 {
				a.cfg.Timeout = 15 * time.Second
			}
			// A TLS failure found while the command waits for the cluster
			// ends it at once (tlsprobe.go).
			cctx, abort := context.WithCancelCause(cmd.Context())
			cmd.SetContext(cctx)
			a.abort = abort
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.env.RunTUI == nil || !a.env.StdinIsTerminal || !a.env.StdoutIsTerminal {
				return usagef("the full-screen chat needs a terminal; see parley --help for commands")
			}
			a.tui = true
			return a.env.RunTUI(cmd.Context(), a)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&endpoints, "endpoints", "", "comma-separated etcd client URLs (env PARLEY_ENDPOINTS; default: a local member in the home)")
	pf.StringVar(&home, "home", "", "directory for keys and local data (env PARLEY_HOME; default $XDG_DATA_HOME/parley)")
	pf.StringVar(&user, "user", "", "user name to act as (env PARLEY_USER)")
	pf.DurationVar(&timeout, "timeout", 15*time.Second, "time limit for each operation against the cluster (for read and rooms: for each request, so a long history or list never times out)")
	pf.StringVar(&cacert, "cacert", "", "CA that signs the members' certificates, for https endpoints (env PARLEY_CACERT)")
	pf.StringVar(&cert, "cert", "", "client certificate, for members that require one (env PARLEY_CERT)")
	pf.StringVar(&key, "key", "", "key of --cert (env PARLEY_KEY)")
	pf.StringVar(&etcdUser, "etcd-user", "", "etcd user (USER or USER:PASSWORD) for a cluster with authentication enabled (env PARLEY_ETCD_USER)")
	pf.StringVar(&etcdPassword, "etcd-password", "", "password of --etcd-user (env PARLEY_ETCD_PASSWORD, which keeps it out of the process list)")
	pf.BoolVar(&noBell, "no-bell", false, "in the full-screen chat, no bell or desktop notification for mentions and direct messages (env PARLEY_NO_BELL=1)")
	pf.BoolVar(&shareTyping, "share-typing", false, "let the other members see when you are typing in the full-screen chat (env PARLEY_SHARE_TYPING=1)")
	pf.BoolVar(&shareRead, "share-read", false, "let the other members see how far you have read (env PARLEY_SHARE_READ=1)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err: err} })

	root.AddCommand(
		a.whoamiCmd(), a.roomsCmd(), a.createCmd(), a.joinCmd(), a.requestsCmd(),
		a.approveCmd(), a.denyCmd(), a.dmCmd(), a.sendCmd(), a.readCmd(),
		a.membersCmd(), a.leaveCmd(), a.removeCmd(), a.outboxCmd(), a.benchCmd(), a.benchReadCmd(), a.nodeCmd(), a.clusterCmd(),
		a.verifyCmd(), a.trustCmd(), a.usersCmd(), a.identityCmd(), a.deviceCmd(),
		a.hostCmd(), a.inviteCmd(), a.joinClusterCmd(),
		a.editCmd(), a.deleteCmd(), a.reactCmd(), a.topicCmd(), a.roomCmd(), a.searchCmd(),
	)
	roomWordsOnErrors(root.Commands())
	return root
}

// withService is the shape of a command that is one chat call: it logs
// in and runs fn, both bounded by the timeout.
func (a *App) withService(cmd *cobra.Command, fn func(context.Context, *chat.Service) error) error {
	ctx, cancel := a.op(cmd)
	defer cancel()
	s, err := a.Service(ctx)
	if err != nil {
		return err
	}
	return fn(ctx, s)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// noArgs refuses positional arguments. To a command with subcommands (the
// root, cluster) the first one is an unknown command; cobra reports both
// as plain errors, which would exit 1 instead of 2.
func noArgs(cmd *cobra.Command, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	if !cmd.HasSubCommands() {
		return usagef("%s takes no arguments, got %q", cmd.Name(), argv[0])
	}
	msg := fmt.Sprintf("unknown command %q", argv[0])
	if cmd.HasParent() {
		msg += fmt.Sprintf(" for %q", cmd.CommandPath())
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default for its own message
	}
	if s := cmd.SuggestionsFor(argv[0]); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = strconv.Quote(n)
		}
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(q, " or "))
	}
	return usageError{err: errors.New(msg), hint: "see " + cmd.CommandPath() + " --help for the commands"}
}

func args(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			return usagef("%s needs %s", cmd.Name(), names)
		}
		return nil
	}
}

// op returns a context bounded by the configured timeout.
func (a *App) op(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.cfg.Timeout)
}

// printJSON writes v as one line of JSON. Characters a terminal would act
// on are escaped (\u001b, \u202e): the value stays exact and the line
// passes the output sanitiser unchanged.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(termtext.EscapeJSON(b), '\n')
	_, err = w.Write(b)
	return err
}

func (a *App) warn(format string, args ...any) {
	a.note("parley: warning: "+format, args...)
}

// note prints one line on stderr; it may be called from any goroutine.
func (a *App) note(format string, args ...any) {
	a.stderrMu.Lock()
	defer a.stderrMu.Unlock()
	fmt.Fprintf(a.env.Stderr, format+"\n", args...)
}

func (a *App) whoamiCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "whoami",
		Short:   "Show the user you act as and your key fingerprint",
		Example: "  parley --user alice whoami",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withService(cmd, func(_ context.Context, s *chat.Service) error {
				if asJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"user": s.Me(), "fingerprint": s.Fingerprint(), "home": a.cfg.Home, "endpoints": s.Endpoints()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\nfingerprint %s\n", s.Me(), s.Fingerprint())
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
