// Command parley is an end-to-end encrypted terminal chat on etcd.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/node"
	"github.com/parley-chat/parley/internal/tui"
)

// The command line keeps the chat's muted rooms in the home.
var _ tui.Mutes = (*cli.App)(nil)

func main() {
	node.SilenceGRPCLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := cli.ProcessEnv()
	env.RunTUI = func(ctx context.Context, a *cli.App) error {
		cfg := a.Config()
		return tui.Run(ctx, a, tui.Options{
			User: cfg.User, Endpoints: cfg.Endpoints, Timeout: cfg.Timeout, NoColor: os.Getenv("NO_COLOR") != "",
			NoBell: cfg.NoBell, Notify: tui.DetectNotify(os.Getenv),
			ShareTyping: cfg.ShareTyping, ShareRead: cfg.ShareRead,
		})
	}
	code := cli.Main(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
