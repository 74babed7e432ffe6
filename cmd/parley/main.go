// Command parley is an end-to-end encrypted terminal chat on etcd.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-chat/parley/internal/cli"
	"github.com/parley-chat/parley/internal/node"
)

func main() {
	node.SilenceGRPCLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.ProcessEnv())
	stop()
	os.Exit(code)
}
