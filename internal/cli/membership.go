package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

// Commands on a room's members: ask to join, answer requests, list the
// members, leave, remove.

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
			var room names.Room
			if err == nil {
				room, err = s.ParseRoom(argv[0])
			}
			if err == nil {
				err = s.RequestJoin(ctx, room)
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
			ap, err := s.WaitApproval(cmd.Context(), room)
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				reqs, err := s.Requests(ctx, room)
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
					if r.NewDevice {
						fmt.Fprintf(w, "%s  %s asks to add a device recovered with their recovery code, approve with: parley approve %s %s\n", r.Time.Local().Format("2006-01-02 15:04"), r.User, r.Room, r.User)
						continue
					}
					fmt.Fprintf(w, "%s  %s wants to join, approve with: parley approve %s %s\n", r.Time.Local().Format("2006-01-02 15:04"), r.User, r.Room, r.User)
				}
				return nil
			})
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				if err := s.Approve(ctx, room, argv[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "approved %s in %s\n", argv[1], argv[0])
				a.printAdmitted(ctx, cmd.OutOrStdout(), s, room, argv[1])
				return nil
			})
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				if err := s.Deny(ctx, room, argv[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "denied %s in %s\n", argv[1], argv[0])
				return nil
			})
		},
	}
}

func (a *App) membersCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "members ROOM",
		Short:   "List a room's members",
		Example: "  parley members general --json",
		Args:    args(1, "a room name"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				ms, err := s.Members(ctx, room)
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
			})
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				if err := s.Leave(ctx, room, chat.LeaveOptions{Delete: del}); err != nil {
					return err
				}
				if del {
					fmt.Fprintf(cmd.OutOrStdout(), "left and closed %s\n", argv[0])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "left %s\n", argv[0])
				}
				return nil
			})
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
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				if err := s.Remove(ctx, room, argv[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s from %s; the room key is rotated\n", argv[1], argv[0])
				return nil
			})
		},
	}
}
