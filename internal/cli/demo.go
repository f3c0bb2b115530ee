package cli

import (
	"context"
	"fmt"

	"github.com/pgvecrep/pgvecrep/internal/demo"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "run the tutorial end to end on two throwaway local clusters",
		usage:   "[--keep] [--upgrade] [--round-trip] [--port N]",
		help: `Demo starts two throwaway PostgreSQL clusters on this machine (a source and a
target, with pgvector), and runs the logical replication tutorial step by
step with pgvecrep: the extension, a vector(10) table with an HNSW index, 100
rows, the nearest-neighbour query, config_check, bootstrap --copy-schema,
start_sync, the query on both sides, 100 more rows, the query again, verify,
then a switchover, the source stopped, and the query on the target alone.

At each step it prints the source's and the target's top 10 side by side. It
exits 0 only when they are identical, and removes the clusters at the end
(--keep leaves them running and prints their URLs).

The clusters listen on 127.0.0.1 only, on two free ports the system picks;
--port N puts the source on port N and the target on N+1, for a machine
whose firewall or other servers decide which ports may be used.

--upgrade runs the same tutorial as a major-version upgrade: a PostgreSQL 15
source, a PostgreSQL 18 target (make deps builds it), ending with the
switchover onto 18.

--round-trip goes back after the switchover instead of stopping the source:
100 rows written on the target reach the source through the reverse stream,
switchback returns to the source, and 100 rows written there reach the
target again. With --upgrade that is 15 -> 18 -> 15, the rollback of an
upgrade.

It needs the PostgreSQL server binaries and pgvector: make demo installs them
(scripts/install-deps.sh) and runs this command.

Example:
  make demo
  pgvecrep demo --port 6432`,
		run: runDemo,
	})
}

func runDemo(ctx context.Context, env *Env, args []string) error {
	c := commands["demo"]
	f := newFlags(env, c)
	var keep, upgrade, roundTrip bool
	var port int
	f.boolVar(&keep, "keep", "", "leave the clusters running at the end")
	f.intVar(&port, "port", "", 0, 1, "the source's TCP port on 127.0.0.1; the target's is the next one (default: two free ports)")
	f.boolVar(&upgrade, "upgrade", "", fmt.Sprintf("replicate into a PostgreSQL %d target: the tutorial as a major-version upgrade", demo.UpgradeMajor))
	f.boolVar(&roundTrip, "round-trip", "", "after the switchover, write on the target and switch back: the way back, with the rows intact")
	if err := f.parse(args); err != nil {
		return err
	}
	if port > 65534 {
		return &exitError{code: 2, err: hint.New(fmt.Sprintf("--port %d leaves no port for the target (N+1)", port), "give a port up to 65534, e.g. --port 6432")}
	}
	return demo.Run(ctx, demo.Options{Out: env.Stdout, Keep: keep, Upgrade: upgrade, RoundTrip: roundTrip, Port: port, Pgvecrep: env.sub})
}

// sub runs one of pgvecrep's commands in this process, as the demo's
// steps do, with vars set on top of the process environment.
func (env *Env) sub(ctx context.Context, vars map[string]string, args []string) int {
	e := &Env{Stdout: env.Stdout, Stderr: env.Stderr, Log: env.Log, Getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return env.Getenv(k)
	}}
	return e.run(ctx, args)
}
