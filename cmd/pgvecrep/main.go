// Command pgvecrep sets up, runs, watches, verifies and cuts over PostgreSQL
// logical replication, with vector columns and indexes as first-class citizens.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgvecrep/pgvecrep/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
