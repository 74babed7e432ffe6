package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/crypto"
)

// The commands of conversation features: edit, delete, react, topic and
// room settings. Each checks its arguments here, so a mistake is a usage
// error before anything is read from the cluster, and is one chat call.

// messageID checks a message id given on the command line.
func messageID(s string) (string, error) {
	if _, err := crypto.ParseMessageID(s); err != nil {
		return "", usageError{
			err:  fmt.Errorf("message id %q is not 32 lowercase hex digits", s),
			hint: "the ids are in: parley read ROOM --json",
		}
	}
	return s, nil
}

func (a *App) editCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "edit ROOM ID TEXT...",
		Short: "Replace the text of one of your messages",
		Long: `Replace the text of your message ID in ROOM. Readers show the new text,
marked "(edited)"; the earlier text stays in the room's log (see read
--raw-events). Only your own messages can be edited.`,
		Example: `  parley edit general 7ffe3c0d2a9b41e6a0c1d2e3f4a5b6c7 see you at 1, not noon`,
		Args: func(cmd *cobra.Command, argv []string) error {
			if len(argv) < 3 {
				return usagef("edit needs a room, a message id and the new text")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := messageID(argv[1])
			if err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				m, err := s.Edit(ctx, room, id, strings.Join(argv[2:], " "))
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), messageJSON(m))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "edited %s\n", id)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the edit as JSON")
	return c
}

func (a *App) deleteCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "delete ROOM ID",
		Short: "Withdraw one of your messages",
		Long: `Withdraw your message ID in ROOM: readers show "message deleted" in its
place. Only your own messages can be deleted. The record stays in the
room's log, encrypted as it was (see docs/security.md); every reader
drops its text.`,
		Example: `  parley delete general 7ffe3c0d2a9b41e6a0c1d2e3f4a5b6c7`,
		Args:    args(2, "a room and a message id"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := messageID(argv[1])
			if err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				m, err := s.Delete(ctx, room, id)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), messageJSON(m))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", id)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the deletion as JSON")
	return c
}

func (a *App) reactCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "react ROOM ID EMOJI",
		Short: "Put a reaction on a message, or take yours back",
		Long: `Put EMOJI on message ID of ROOM; if you had put the same one there, it
is taken back instead. A reaction is one emoji (with its skin tone or
joined parts), not a word.`,
		Example: `  parley react general 7ffe3c0d2a9b41e6a0c1d2e3f4a5b6c7 👍`,
		Args:    args(3, "a room, a message id and an emoji"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := messageID(argv[1])
			if err != nil {
				return err
			}
			if err := chat.CheckReaction(argv[2]); err != nil {
				return usageError{err: err, hint: "give a single emoji, such as 👍"}
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				m, err := s.React(ctx, room, id, argv[2])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), messageJSON(m))
				}
				if m.Unreact {
					fmt.Fprintf(cmd.OutOrStdout(), "took back %s on %s\n", m.Reaction, id)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "reacted %s to %s\n", m.Reaction, id)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the reaction as JSON")
	return c
}

func (a *App) topicCmd() *cobra.Command {
	var asJSON, clear bool
	c := &cobra.Command{
		Use:   "topic ROOM [TEXT...]",
		Short: "Set a room's topic, or show it",
		Long: fmt.Sprintf(`Set the topic of ROOM to TEXT (one line, at most %d bytes), or with no
TEXT show the topic and who set it. --clear removes the topic.`, chat.MaxTopicBytes),
		Example: `  parley topic general release on Friday
  parley topic general
  parley topic general --clear`,
		Args: func(cmd *cobra.Command, argv []string) error {
			if len(argv) < 1 {
				return usagef("topic needs a room")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			text := strings.Join(argv[1:], " ")
			set := len(argv) > 1 || clear
			if clear && len(argv) > 1 {
				return usagef("--clear takes no text")
			}
			if set {
				if err := chat.CheckTopic(text); err != nil {
					return usageError{err: err}
				}
				if strings.TrimSpace(text) == "" && !clear {
					return usagef("empty topic: to remove the topic, use --clear")
				}
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if !set {
					m, found, err := s.Topic(ctx, room)
					if err != nil {
						return err
					}
					if asJSON {
						if !found {
							return printJSON(w, map[string]any{"room": argv[0], "topic": ""})
						}
						return printJSON(w, messageJSON(m))
					}
					if !found || m.Topic == "" {
						fmt.Fprintf(w, "%s has no topic\n", argv[0])
						return nil
					}
					fmt.Fprintf(w, "%s (set by %s on %s)\n", m.Topic, m.Sender, m.Time.Local().Format(stampLayout))
					return nil
				}
				m, err := s.SetTopic(ctx, room, text)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(w, messageJSON(m))
				}
				if text == "" {
					fmt.Fprintf(w, "cleared the topic of %s\n", argv[0])
				} else {
					fmt.Fprintf(w, "topic of %s: %s\n", argv[0], text)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&clear, "clear", false, "remove the topic")
	return c
}

func (a *App) roomCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "room",
		Short: "Show or change a room's settings",
		Args:  noArgs,
	}
	c.AddCommand(a.roomShowCmd(), a.roomSetCmd())
	roomWordsOnErrors(c.Commands())
	return c
}

func (a *App) roomShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "show ROOM",
		Short:   "Show a room: its kind, members, topic and how long messages live",
		Example: "  parley room show general",
		Args:    args(1, "a room"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				r, err := s.Room(ctx, room)
				if err != nil {
					return err
				}
				var topic string
				if r.Member {
					m, found, err := s.Topic(ctx, room)
					if err != nil {
						return err
					}
					if found {
						topic = m.Topic
					}
				}
				w := cmd.OutOrStdout()
				if asJSON {
					o := map[string]any{"room": r.Name, "kind": r.Kind, "member": r.Member, "members": r.Members, "disappear_seconds": r.DisappearSeconds}
					if topic != "" {
						o["topic"] = topic
					}
					return printJSON(w, o)
				}
				fmt.Fprintln(w, describeRoom(r))
				if topic != "" {
					fmt.Fprintf(w, "topic: %s\n", topic)
				}
				if r.DisappearSeconds > 0 {
					fmt.Fprintf(w, "messages disappear after %s\n", formatLifetime(time.Duration(r.DisappearSeconds)*time.Second))
				} else {
					fmt.Fprintln(w, "messages stay")
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *App) roomSetCmd() *cobra.Command {
	var disappear string
	c := &cobra.Command{
		Use:   "set ROOM --disappear DURATION",
		Short: "Change a room's settings: how long messages live",
		Long: `Change a setting of ROOM, for every member. --disappear makes messages
sent from now on disappear after DURATION (such as 30m, 1h, 7d; at most a
year): the cluster deletes them when their time is up, for everyone.
--disappear 0 makes messages stay again. Messages sent before the change
keep the lifetime they were sent with.`,
		Example: `  parley room set general --disappear 1h
  parley room set @bob --disappear 7d
  parley room set general --disappear 0`,
		Args: args(1, "a room"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !cmd.Flags().Changed("disappear") {
				return usagef("room set needs a setting, such as --disappear 1h")
			}
			d, err := parseLifetime(disappear)
			if err != nil {
				return err
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				room, err := s.ParseRoom(argv[0])
				if err != nil {
					return err
				}
				if err := s.SetDisappear(ctx, room, d); err != nil {
					return err
				}
				if d == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "messages sent to %s from now on stay\n", argv[0])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "messages sent to %s from now on disappear after %s\n", argv[0], formatLifetime(d))
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&disappear, "disappear", "", "how long messages sent from now on live (30m, 1h, 7d; 0: for good)")
	return c
}

// parseLifetime reads --disappear (see chat.ParseLifetime).
func parseLifetime(s string) (time.Duration, error) {
	d, err := chat.ParseLifetime(s)
	if err != nil {
		return 0, usagef("--disappear %v", err)
	}
	return d, nil
}

// formatLifetime says a lifetime the short way: "1h", "1h30m", "7d".
func formatLifetime(d time.Duration) string { return chat.FormatLifetime(d) }

// noTargetHint is what to do about an event whose target is not there.
const noTargetHint = "the ids of a room's messages are in: parley read ROOM --json"
