// Command pgvecrep sets up, runs, watches, verifies and cuts over PostgreSQL
// logical replication, with vector columns and indexes as first-class citizens.
package main

import (
	"context"
	"os"

	"github.com/pgvecrep/pgvecrep/internal/cli"
)

// main leaves signals to cli.Run: a second Ctrl-C during a rollback must be
// seen by the code that knows what the rollback leaves behind.
func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
