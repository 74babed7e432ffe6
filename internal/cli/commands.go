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
		a.verifyCmd(), a.trustCmd(), a.usersCmd(), a.identityCmd(),
		a.hostCmd(), a.inviteCmd(), a.joinClusterCmd(),
		a.editCmd(), a.deleteCmd(), a.reactCmd(), a.topicCmd(), a.roomCmd(), a.searchCmd(),
	)
	roomWordsOnErrors(root.Commands())
	return root
}

// session logs in for one command and bounds it by the timeout; call
// cancel when done, also on error.
func (a *App) session(cmd *cobra.Command) (context.Context, *chat.Service, context.CancelFunc, error) {
	ctx, cancel := a.op(cmd)
	s, err := a.Service(ctx)
	return ctx, s, cancel, err
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
			_, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": s.Me(), "fingerprint": s.Fingerprint(), "home": a.cfg.Home, "endpoints": s.Store().Endpoints()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\nfingerprint %s\n", s.Me(), s.Fingerprint())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *App) roomsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "rooms",
		Short: "List the rooms: yours, your direct rooms, and those you may ask to join",
		Example: `  parley rooms
  parley rooms --json | jq -r 'select(.member) | .room'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.op(cmd)
			s, err := a.Service(ctx)
			cancel()
			if err != nil {
				return err
			}
			rooms, rejected, err := a.listRooms(cmd, s)
			if err != nil {
				return err
			}
			for _, r := range rejected {
				a.warn("rejected %s of room %q: %s", r.What, r.Room, r.Reason)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				for _, r := range rooms {
					if err := printJSON(w, r); err != nil {
						return err
					}
				}
				return nil
			}
			switch len(rooms) {
			case 0:
				fmt.Fprintln(w, "There are no rooms yet. Create one with: parley create ROOM")
				return nil
			case 1:
				fmt.Fprintln(w, "There is 1 room:")
			default:
				fmt.Fprintf(w, "There are %d rooms:\n", len(rooms))
			}
			for i, r := range rooms {
				fmt.Fprintf(w, "[%d] %s\n", i, describeRoom(r))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per room")
	return c
}

// progressStep is how many rooms a listing reads between two lines of
// progress: a list of fewer says nothing.
const progressStep = 1000

// listRooms lists the rooms, saying on stderr how far it got while a long
// list loads; --timeout bounds each round trip, not the whole listing.
func (a *App) listRooms(cmd *cobra.Command, s *chat.Service) ([]chat.RoomInfo, []chat.Rejected, error) {
	ctx, wd := a.watch(cmd, "list rooms")
	defer wd.Stop()
	said := 0
	rooms, rejected, err := s.RoomsProgress(ctx, func(read int) {
		wd.Touch()
		if read/progressStep > said/progressStep {
			said = read
			fmt.Fprintf(a.env.Stderr, "parley: reading rooms: %d...\n", read)
		}
	})
	return rooms, rejected, wd.Err(err)
}

func describeRoom(r chat.RoomInfo) string {
	var status string
	switch {
	case r.Kind == chat.Direct:
		return fmt.Sprintf("@%s (direct)", r.Peer)
	case r.Member:
		status = "member"
	case r.Requested:
		status = "join requested"
	default:
		status = "not a member"
	}
	n := len(r.Members)
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return fmt.Sprintf("%s (%d member%s, %s)", r.Name, n, plural, status)
}

func (a *App) createCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "create ROOM",
		Short:   "Create a group room; you are its first member",
		Example: "  parley create general",
		Args:    args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			r, err := s.CreateRoom(ctx, argv[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\n", r.Name)
			return nil
		},
	}
}

func (a *App) joinCmd() *cobra.Command {
	var wait bool
	c := &cobra.Command{
		Use:   "join ROOM",
		Short: "Ask to join a group room; a member approves or denies",
		Long: `Ask to join a group room. Every member sees the request and any of them
approves it (parley approve ROOM USER, or !USER in the chat). With --wait,
join blocks until the request is approved (exit 0) or denied (exit 4).`,
		Example: `  parley join general --wait && parley read general`,
		Args:    args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, cancel := a.op(cmd)
			s, err := a.Service(ctx)
			if err == nil {
				err = s.RequestJoin(ctx, argv[0])
			}
			cancel()
			if errors.Is(err, chat.ErrAlreadyMember) {
				fmt.Fprintf(cmd.OutOrStdout(), "already a member of %s\n", argv[0])
				return nil
			}
			if err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(cmd.OutOrStdout(), "asked to join %s; a member must approve\n", argv[0])
				return nil
			}
			fmt.Fprintf(a.env.Stderr, "waiting for a member of %s to approve...\n", argv[0])
			ap, err := s.WaitApproval(cmd.Context(), argv[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "joined %s (approved by %s)\n", argv[0], ap.By)
			return nil
		},
	}
	c.Flags().BoolVar(&wait, "wait", false, "wait until the request is approved or denied")
	return c
}

func (a *App) requestsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "requests ROOM",
		Short:   "List pending join requests of a room",
		Example: "  parley requests general --json",
		Args:    args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			reqs, err := s.Requests(ctx, argv[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, r := range reqs {
				if asJSON {
					if err := printJSON(w, r); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(w, "%s  %s wants to join, approve with: parley approve %s %s\n", r.Time.Local().Format("2006-01-02 15:04"), r.User, r.Room, r.User)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per request")
	return c
}

func (a *App) approveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "approve ROOM USER",
		Short:   "Approve a join request: the newcomer gets the keys to the whole history",
		Example: "  parley approve general bob",
		Args:    args(2, "a room and a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if err := s.Approve(ctx, argv[0], argv[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "approved %s in %s\n", argv[1], argv[0])
			a.printAdmitted(ctx, cmd.OutOrStdout(), s, argv[0], argv[1])
			return nil
		},
	}
}

func (a *App) denyCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "deny ROOM USER",
		Short:   "Deny a join request",
		Example: "  parley deny general mallory",
		Args:    args(2, "a room and a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if err := s.Deny(ctx, argv[0], argv[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "denied %s in %s\n", argv[1], argv[0])
			return nil
		},
	}
}

func (a *App) dmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dm USER",
		Short: "Open (or create) your direct room with a user",
		Long: `Open your direct room with USER, creating it if needed. A direct room has
exactly two members and can never be joined by anyone else. Elsewhere,
@USER as a room argument means this room.`,
		Example: "  parley dm bob && parley send @bob 'hi bob'",
		Args:    args(1, "a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			r, err := s.DirectRoom(ctx, argv[0])
			if err != nil {
				return roomWords(err, "@"+argv[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "direct room with %s: @%s\n", r.Peer, r.Peer)
			return nil
		},
	}
}

func messageJSON(m chat.Message) map[string]any {
	o := map[string]any{
		"room": m.Room, "id": m.ID, "sender": m.Sender, "time": m.Time.Format(time.RFC3339Nano),
		"revision": m.Revision, "epoch": m.Epoch, "seq": m.Seq,
	}
	if m.Pending {
		o["pending"] = true
	}
	if m.Rejected != "" {
		o["rejected"] = m.Rejected
	} else {
		o["text"] = m.Text
	}
	kindJSON(o, m)
	return o
}

func (a *App) membersCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "members ROOM",
		Short:   "List a room's members",
		Example: "  parley members general --json",
		Args:    args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			ms, err := s.Members(ctx, argv[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range ms {
				if asJSON {
					if err := printJSON(w, m); err != nil {
						return err
					}
					continue
				}
				var tags []string
				if m.Creator {
					tags = append(tags, "creator")
				}
				if m.AddedBy != "" && m.AddedBy != m.Name {
					tags = append(tags, "approved by "+m.AddedBy)
				}
				if m.Me {
					tags = append(tags, "you")
				}
				if m.Verified {
					tags = append(tags, "verified")
				}
				line := m.Name
				if len(tags) > 0 {
					line += " (" + strings.Join(tags, ", ") + ")"
				}
				fmt.Fprintln(w, line)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per member")
	return c
}

func (a *App) leaveCmd() *cobra.Command {
	var del bool
	c := &cobra.Command{
		Use:   "leave ROOM",
		Short: "Leave a room; the others rotate its key so you cannot read what follows",
		Args:  args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if err := s.Leave(ctx, argv[0], chat.LeaveOptions{Delete: del}); err != nil {
				return err
			}
			if del {
				fmt.Fprintf(cmd.OutOrStdout(), "left and closed %s\n", argv[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "left %s\n", argv[0])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&del, "delete", false, "as the last member, leave and close the room for good")
	return c
}

func (a *App) removeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ROOM USER",
		Short: "Remove a member and rotate the room key",
		Long: `Remove USER from ROOM and rotate the room key at once, so USER cannot read
what is sent afterwards. Any member may remove any other member except the
room's creator, who can only leave.`,
		Example: "  parley remove general mallory",
		Args:    args(2, "a room and a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if err := s.Remove(ctx, argv[0], argv[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s; the room key is rotated\n", argv[1], argv[0])
			return nil
		},
	}
}

func (a *App) outboxCmd() *cobra.Command {
	var asJSON, deliver bool
	c := &cobra.Command{
		Use:   "outbox",
		Short: "List messages queued while the cluster was unavailable",
		Long: `Messages sent while the cluster has no quorum wait in an outbox in your
home and are delivered, each exactly once and in order, as soon as the
cluster answers, by a parley that sends: the next send (before its own
message), a running send -, read --follow or chat. outbox --deliver
delivers them now; each message gets --timeout, however many wait.`,
		Example: `  parley outbox
  parley outbox --deliver`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if deliver {
				// A slow cluster takes a long outbox: each message gets
				// the timeout, the drain as a whole is not bounded.
				a.deliverWait = a.cfg.Timeout
			}
			_, s, cancel, err := a.session(cmd)
			defer cancel()
			if err != nil {
				return err
			}
			if deliver {
				done, err := s.DeliverOutbox(cmd.Context())
				for _, m := range done {
					a.note("parley: delivered %s to %s", m.ID, m.Room)
				}
				if err != nil {
					return err
				}
			}
			pending, err := s.Pending()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range pending {
				if asJSON {
					if err := printJSON(w, messageJSON(m)); err != nil {
						return err
					}
					continue
				}
				status := "pending"
				if m.Rejected != "" {
					status = "failed: " + m.Rejected
				}
				fmt.Fprintf(w, "%s  %s  %s: %s (%s)\n", m.Time.Local().Format("2006-01-02 15:04:05"), m.Room, m.Sender, m.Text, status)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	c.Flags().BoolVar(&deliver, "deliver", false, "try to deliver the queued messages now")
	return c
}
