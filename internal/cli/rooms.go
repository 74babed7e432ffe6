package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// Commands on rooms: list them, create one, open a direct room.

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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := names.ParseGroupRoom(argv[0])
				if err != nil {
					return err
				}
				r, err := s.CreateRoom(ctx, room)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created %s\n", r.Name)
				return nil
			})
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				peer, err := names.ParseUser(argv[0])
				if err != nil {
					return err
				}
				r, err := s.DirectRoom(ctx, peer)
				if err != nil {
					return roomWords(err, "@"+argv[0])
				}
				fmt.Fprintf(cmd.OutOrStdout(), "direct room with %s: @%s\n", r.Peer, r.Peer)
				return nil
			})
		},
	}
}
