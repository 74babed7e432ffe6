package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
)

func (a *App) trustCmd() *cobra.Command {
	var accept, asJSON bool
	c := &cobra.Command{
		Use:   "trust USER",
		Short: "Compare USER's key in etcd with the one this home pinned; --accept a changed one",
		Long: `Parley never uses a key of USER that differs from the one this home pinned:
anyone with write access to etcd could have put it there. trust shows the
pinned key and the one etcd holds now, with the safety code of each. Ask
USER, over a channel you trust, to run parley verify with your name: if
USER sees the new code, accept the new key with --accept. The pin is then
replaced, and a verified mark of the old key is dropped.

A room keeps the key its commits admitted: in a room that admitted USER's
old key, the new one counts only once a member removes USER and approves
USER again.`,
		Example: `  parley trust bob
  parley trust bob --accept`,
		Args: args(1, "a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				user, err := a.otherUser(s, argv[0])
				if err != nil {
					return err
				}
				k, err := s.KeyChange(ctx, user)
				if err != nil {
					return err
				}
				accepted := false
				if accept && k.Changed() {
					if err := s.AcceptKey(ctx, user, k.Stored); err != nil {
						return err
					}
					accepted = true
				}
				w := cmd.OutOrStdout()
				if asJSON {
					return printJSON(w, struct {
						chat.KeyChange
						Changed  bool `json:"changed"`
						Accepted bool `json:"accepted"`
					}{k, k.Changed(), accepted})
				}
				switch {
				case k.Pinned == "":
					fmt.Fprintf(w, "This home has pinned no key for %s yet. etcd holds %s.\n", k.User, k.Stored)
					fmt.Fprintf(w, "It is pinned from the first room commit that admits it; compare it with %s first with: parley verify %s\n", k.User, k.User)
					return nil
				case !k.Changed():
					state := "not verified"
					if k.WasVerified {
						state = "verified"
					}
					fmt.Fprintf(w, "The key of %s has not changed: %s (%s).\n", k.User, k.Pinned, state)
					return nil
				}
				was := ""
				if k.WasVerified {
					was = "  (was verified)"
				}
				fmt.Fprintf(w, "The key stored for %s in etcd is not the one this home pinned.\n\n", k.User)
				fmt.Fprintf(w, "  pinned   %s%s\n  in etcd  %s\n\n", k.Pinned, was, k.Stored)
				if k.PinnedCode != "" {
					fmt.Fprintf(w, "Safety code with the pinned key:\n")
					printCode(w, k.PinnedCode)
				}
				fmt.Fprintf(w, "Safety code with the key in etcd:\n")
				printCode(w, k.StoredCode)
				fmt.Fprintln(w)
				if !accepted {
					fmt.Fprintf(w, "Either %s replaced their keys or someone with write access to etcd did.\n", k.User)
					fmt.Fprintf(w, "Ask %s, over a channel you trust, to run: parley verify %s\n", k.User, s.Me())
					fmt.Fprintf(w, "If %s sees the code with the key in etcd, accept it with: parley trust %s --accept\n", k.User, k.User)
					return nil
				}
				fmt.Fprintf(w, "Accepted: %s is now pinned for %s.\n", k.Stored, k.User)
				if k.WasVerified {
					fmt.Fprintf(w, "%s is no longer marked verified: compare the new code and mark again with: parley verify %s --mark\n", k.User, k.User)
				}
				fmt.Fprintf(w, "Rooms that admitted the old key keep it: there a member removes %s and approves %s again.\n", k.User, k.User)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&accept, "accept", false, "accept the key etcd holds now in place of the pinned one")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// keyChangedHint says what to do about a changed key.
func keyChangedHint(err error) string {
	var kc *chat.KeyChangedError
	if errors.As(err, &kc) {
		return fmt.Sprintf("either %s replaced their keys or someone with write access to etcd did: see both with parley trust %s, and accept the new key only after comparing safety codes with %s", kc.User, kc.User, kc.User)
	}
	return ""
}
