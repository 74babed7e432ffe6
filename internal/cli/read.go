package cli

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/watchdog"
)

// watch returns the context of an operation of many round trips, which
// --timeout bounds one round trip at a time: it ends, as unavailable, once
// the timeout passes without one. Touch the watchdog after each; Stop it
// when done.
func (a *App) watch(cmd *cobra.Command, what string) (context.Context, *watchdog.Watchdog) {
	return watchdog.New(cmd.Context(), a.cfg.Timeout,
		fmt.Errorf("%s: no answer from the cluster for %s: %w", what, a.cfg.Timeout, store.ErrUnavailable))
}

// foldChunk is how many messages a read holds to fold edits, deletions
// and reactions into the messages they act on before printing them.
const foldChunk = 2000

// printHistory prints a room's history (or its newest limit messages),
// oldest first, each page as soon as it is verified: the first lines show
// at once, memory stays bounded by a few pages whatever the length of the
// history, and --timeout bounds each round trip, not the whole read.
// Unless raw, messages show in their final state, folded a chunk at a
// time (see transcript.flushChunk).
func (a *App) printHistory(cmd *cobra.Command, s *chat.Service, arg string, room names.Room, limit int, tr *transcript, out *bufio.Writer) (*chat.Page, []chat.Message, error) {
	ctx, wd := a.watch(cmd, "read "+arg)
	defer wd.Stop()
	noted := false
	var last []chat.Message
	p, err := s.StreamForward(ctx, room, chat.StreamOptions{Limit: limit, Progress: wd.Touch}, func(p *chat.Page) error {
		// Writing waits for the reader of the output, not for the cluster.
		wd.Pause()
		defer wd.Resume()
		if p.Stale && !noted {
			noted = true
			a.noteStale(true) // stale.go
		}
		if err := tr.add(p.Messages...); err != nil {
			return err
		}
		if len(p.Messages) > 0 {
			last = p.Messages
		}
		if !tr.raw && len(tr.pending) >= foldChunk {
			if err := tr.flushChunk(); err != nil {
				return err
			}
		}
		return out.Flush()
	})
	if err == nil && !tr.raw {
		err = tr.flushChunk()
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err == nil && p != nil && p.Stale && !noted {
		a.noteStale(true)
	}
	return p, last, wd.Err(err)
}

func (a *App) readCmd() *cobra.Command {
	var asJSON, follow, rawEvents bool
	var limit int
	c := &cobra.Command{
		Use:   "read ROOM",
		Short: "Print a room's messages, verified and decrypted",
		Long: `Print a room's messages, oldest first, as they are verified: a long history
starts printing at once and is read in pages, and --timeout bounds each
request to the cluster rather than the whole read. Records that fail
verification are printed as rejected, with the reason; tampering that no
single record shows (deleted or replayed messages) is reported on stderr
at the end.

--limit N prints the newest N messages in the order every reader shows;
messages dated far ahead of this machine's clock do not count toward N
and are reported on stderr.`,
		Example: `  parley read general --limit 50
  parley read @bob --follow
  parley read general --json | jq -r .text`,
		Args: args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			ctx, cancel := a.op(cmd)
			s, err := a.Service(ctx)
			cancel()
			if err != nil {
				return err
			}
			room, err := s.ParseRoom(argv[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			out := bufio.NewWriterSize(w, 64<<10)
			tr := newTranscript(out, s.Me(), asJSON, rawEvents, follow)
			tr.mark = a.markStale
			p, last, err := a.printHistory(cmd, s, argv[0], room, limit, tr, out)
			if err != nil {
				return err
			}
			tr.w = w
			a.shareRead(cmd, s, room, last)
			for _, r := range p.Rejected {
				a.warn("rejected %s: %s", r.What, r.Reason)
			}
			for _, wr := range p.Warnings {
				a.warn("%s", wr)
			}
			if !follow {
				return nil
			}
			ch, err := s.Subscribe(cmd.Context(), room, p.Revision+1)
			if err != nil {
				return err
			}
			// While following, deliver what this user queued earlier.
			obCtx, stopOutbox := context.WithCancel(cmd.Context())
			obDone := make(chan struct{})
			go func() { defer close(obDone); s.RunOutbox(obCtx, nil) }()
			defer func() { stopOutbox(); <-obDone }()
			for ev := range ch {
				switch ev.Kind {
				case chat.EventMessage:
					if err := tr.live(ev.Message); err != nil {
						return err
					}
					a.shareRead(cmd, s, room, []chat.Message{ev.Message})
				case chat.EventNotice:
					if asJSON {
						printJSON(w, map[string]any{"room": ev.Room, "notice": ev.Notice, "text": noticeText(ev.Room, ev.Notice), "revision": ev.Revision})
					} else {
						fmt.Fprintf(w, "%s  * %s\n", time.Now().Format("2006-01-02 15:04:05"), noticeText(ev.Room, ev.Notice))
					}
				case chat.EventWarning:
					a.warn("%s", ev.Text)
				case chat.EventStatus:
					if ev.Err != nil {
						a.warn("%v", ev.Err)
					} else {
						fmt.Fprintln(a.env.Stderr, "parley: reconnected")
					}
				}
			}
			return cmd.Context().Err()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message")
	c.Flags().BoolVar(&follow, "follow", false, "after the history, print new messages as they arrive")
	c.Flags().IntVar(&limit, "limit", 0, "print only the newest N messages (0: all)")
	c.Flags().BoolVar(&rawEvents, "raw-events", false, "print every record of the log (edits, deletions, reactions) instead of each message's final state")
	return c
}
