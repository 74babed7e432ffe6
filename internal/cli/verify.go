package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/names"
)

func (a *App) verifyCmd() *cobra.Command {
	var mark, unmark, asJSON bool
	c := &cobra.Command{
		Use:   "verify USER",
		Short: "Show the safety code you and USER compare out of band, and mark USER verified",
		Long: `Show the safety code of you and USER: 60 digits computed from both your keys,
the same on both sides. Compare it with USER in person or over a call you
trust (USER runs parley verify with your name). If it matches, nobody with
access to etcd has put other keys in place of yours or theirs: mark USER
verified with --mark (or answer y when asked in a terminal).

Verified users carry a mark in member lists and in parley users. The mark
is for the key compared: if USER's key changes, the mark goes.`,
		Example: `  parley verify bob
  parley verify bob --mark
  parley verify bob --json | jq -r .safety_code`,
		Args: args(1, "a user"),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if mark && unmark {
				return usagef("--mark and --unmark exclude each other")
			}
			return a.withService(cmd, func(ctx context.Context, s *chat.Service) error {
				user, err := a.otherUser(s, argv[0])
				if err != nil {
					return err
				}
				sf, err := s.Safety(ctx, user)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch {
				case unmark:
					if err := s.Unverify(user); err != nil {
						return err
					}
					sf.Verified = false
				case mark:
					if err := s.MarkVerified(ctx, user, sf.Fingerprint); err != nil {
						return err
					}
					sf.Verified, sf.Pinned = true, true
				}
				if asJSON {
					return printJSON(w, sf)
				}
				printSafety(w, sf)
				switch {
				case mark:
					fmt.Fprintf(w, "\n%s is marked verified.\n", sf.User)
				case unmark:
					fmt.Fprintf(w, "\n%s is no longer marked verified.\n", sf.User)
				case sf.Verified:
					fmt.Fprintf(w, "\n%s is marked verified with this key.\n", sf.User)
				case a.env.StdinIsTerminal:
					yes, err := a.confirm(fmt.Sprintf("Does %s see the same code? Mark %s verified [y/N]: ", sf.User, sf.User))
					if err != nil {
						return err
					}
					if !yes {
						fmt.Fprintf(w, "%s is not marked verified.\n", sf.User)
						return nil
					}
					if err := s.MarkVerified(ctx, user, sf.Fingerprint); err != nil {
						return err
					}
					fmt.Fprintf(w, "%s is marked verified.\n", sf.User)
				default:
					fmt.Fprintf(w, "\nIf %s sees the same code, mark %s verified with: parley verify %s --mark\n", sf.User, sf.User, sf.User)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&mark, "mark", false, "mark USER verified: you compared the code and it matched")
	c.Flags().BoolVar(&unmark, "unmark", false, "remove USER's verified mark")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// otherUser checks that arg names a user other than me.
func (a *App) otherUser(s *chat.Service, arg string) (string, error) {
	u, err := names.ParseUser(strings.TrimPrefix(arg, "@"))
	if err != nil {
		return "", err
	}
	if u.String() == s.Me() {
		return "", usagef("%s is you: compare your key with someone else's", u)
	}
	return u.String(), nil
}

// printSafety prints a safety code in three lines of four groups, and the
// fingerprints it covers.
func printSafety(w io.Writer, sf chat.Safety) {
	fmt.Fprintf(w, "Safety code of %s and %s:\n\n", sf.Me, sf.User)
	printCode(w, sf.Code)
	state := "not verified"
	if sf.Verified {
		state = "verified"
	}
	width := max(len(sf.Me), len(sf.User))
	fmt.Fprintf(w, "\n%-*s  %s  (you)\n", width, sf.Me, sf.MyFingerprint)
	fmt.Fprintf(w, "%-*s  %s  (%s)\n", width, sf.User, sf.Fingerprint, state)
}

func printCode(w io.Writer, code string) {
	groups := strings.Fields(code)
	for i := 0; i < len(groups); i += 4 {
		fmt.Fprintf(w, "    %s\n", strings.Join(groups[i:min(i+4, len(groups))], " "))
	}
}

// confirm asks a yes or no question on the terminal; no is the default.
func (a *App) confirm(prompt string) (bool, error) {
	fmt.Fprint(a.env.Stderr, prompt)
	line, err := bufio.NewReader(a.env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		if err == io.EOF {
			return false, nil
		}
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func (a *App) usersCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "users",
		Short: "List the users whose keys this home has pinned, and which are verified",
		Long: `List the users whose keys this home has pinned for --user: each user's key
is pinned from the first room commit that admitted it (or when you mark the
user verified), and a key in etcd that differs from the pin is refused. A
user is verified when you compared safety codes (parley verify). Reads the
home only: the cluster is not needed.`,
		Example: `  parley users
  parley users --json | jq -r 'select(.verified|not) | .user'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.cfg.User == "" {
				return usagef("no user: pass --user NAME or set PARLEY_USER")
			}
			pme, err := names.ParseUser(a.cfg.User)
			if err != nil {
				return err
			}
			me := pme.String()
			if exists, _ := a.KeystoreExists(me); !exists {
				return fmt.Errorf("no keystore for %s in %s", me, a.cfg.Home)
			}
			pins, err := openPins(a.userDir(me))
			if err != nil {
				return err
			}
			list := pins.known()
			w := cmd.OutOrStdout()
			width := 0
			for i := range list {
				list[i].Me = list[i].User == me
				width = max(width, len(list[i].User))
			}
			for _, k := range list {
				if asJSON {
					if err := printJSON(w, k); err != nil {
						return err
					}
					continue
				}
				tag := ""
				switch {
				case k.Me:
					tag = "  you"
				case k.Verified:
					tag = "  verified"
				}
				fmt.Fprintf(w, "%-*s  %s%s\n", width, k.User, k.Fingerprint, tag)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per user")
	return c
}

// printAdmitted prints the fingerprint the room admitted for user, after
// an approval: what to compare before trusting the newcomer.
func (a *App) printAdmitted(ctx context.Context, w io.Writer, s *chat.Service, room names.Room, user string) {
	u, err := names.ParseUser(user)
	if err != nil {
		return
	}
	ms, err := s.Members(ctx, room)
	if err != nil {
		a.warn("cannot show the fingerprint of %s: %v", u, err)
		return
	}
	for _, m := range ms {
		if m.Name != u.String() {
			continue
		}
		if m.Verified {
			fmt.Fprintf(w, "fingerprint of %s: %s (verified)\n", u, m.Fingerprint)
		} else {
			fmt.Fprintf(w, "fingerprint of %s: %s (not verified: compare safety codes with parley verify %s)\n", u, m.Fingerprint, u)
		}
	}
}
