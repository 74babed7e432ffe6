package cli

import (
	"fmt"
	"os"

	"golang.org/x/term"
)

// ProcessEnv returns the Env of the running process.
func ProcessEnv() *Env {
	in := int(os.Stdin.Fd())
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv:           os.Getenv,
		StdinIsTerminal:  term.IsTerminal(in),
		StdoutIsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
		ReadPassword: func(prompt string) ([]byte, error) {
			fmt.Fprint(os.Stderr, prompt)
			defer fmt.Fprintln(os.Stderr)
			return term.ReadPassword(in)
		},
	}
}
