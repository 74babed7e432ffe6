package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
)

func (a *App) searchCmd() *cobra.Command {
	var asJSON, all bool
	c := &cobra.Command{
		Use:   "search [ROOM] WORDS...",
		Short: "Find messages holding every one of WORDS, newest first",
		Long: `Find the messages of ROOM that hold every one of WORDS (anywhere in the
text, ignoring case), newest first, in their final state: an edited message
by its new text, a deleted one not at all; topics are searched too. With a
single word, or --all, every room you are in is searched.

The history is read, verified and decrypted in memory, as read does;
nothing of it is written to disk. --json prints one object per message,
with "spans": the byte ranges of the words found in its text.`,
		Example: `  parley search general lunch friday
  parley search --all deploy
  parley search @bob address --json`,
		Args: func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 0 {
				return usageError{err: chat.ErrEmptyQuery}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			var rooms []string
			words := argv
			if !all && len(argv) > 1 {
				rooms, words = argv[:1], argv[1:]
			}
			q, err := chat.ParseQuery(strings.Join(words, " "))
			if err != nil {
				return usageError{err: err}
			}
			ctx, cancel := a.op(cmd)
			s, err := a.Service(ctx)
			if err == nil && rooms == nil {
				var list []chat.RoomInfo
				list, _, err = s.Rooms(ctx)
				for _, r := range list {
					if r.Member {
						rooms = append(rooms, r.Name)
					}
				}
			}
			cancel()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var failed error
			for _, room := range rooms {
				ctx, cancel := a.op(cmd)
				name, err := s.ParseRoom(room)
				var res chat.SearchResult
				if err == nil {
					res, err = s.Search(ctx, name, q)
				}
				cancel()
				if err != nil && len(rooms) == 1 && !all {
					return roomWords(err, room)
				}
				if err != nil {
					// One room that cannot be read does not hide the others.
					a.warn("cannot search %s: %v", displayRoomName(room, s.Me()), err)
					failed = err
					continue
				}
				for _, wr := range res.Warnings {
					a.warn("%s: %s", res.Room, wr)
				}
				for _, m := range res.Matches {
					if err := a.printMatch(w, m, q, s.Me(), asJSON); err != nil {
						return err
					}
				}
			}
			if failed != nil {
				return fmt.Errorf("some rooms could not be searched: %w", failed)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message found")
	c.Flags().BoolVar(&all, "all", false, "search every room you are in (all arguments are words)")
	return c
}

// printMatch prints one message found, with its room.
func (a *App) printMatch(w io.Writer, m chat.Message, q chat.Query, me string, asJSON bool) error {
	text := m.Text
	if m.Kind == chat.KindTopic {
		text = m.Topic
	}
	if asJSON {
		o := messageJSON(m)
		if m.Mentions(me) {
			o["mentions_me"] = true
		}
		o["spans"] = q.Spans(text)
		return printJSON(w, o)
	}
	room := displayRoomName(m.Room, me)
	_, err := fmt.Fprintf(w, "%s  %s  %s\n", room, m.Time.Local().Format(stampLayout), foldedLine(m))
	return err
}

// displayRoomName names a room as the command line takes it: "@bob" for
// my direct room with bob.
func displayRoomName(room, me string) string { return directNames(room, me) }
