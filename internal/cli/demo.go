package cli

import (
	"context"
	"fmt"

	"github.com/pgvecrep/pgvecrep/internal/demo"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "run the tutorial end to end on two throwaway local clusters",
		usage:   "[--keep] [--upgrade]",
		help: `Demo starts two throwaway PostgreSQL clusters on this machine (a source and a
target, with pgvector), and runs the logical replication tutorial step by
step with pgvecrep: the extension, a vector(10) table with an HNSW index, 100
rows, the nearest-neighbour query, config_check, bootstrap --copy-schema,
start_sync, the query on both sides, 100 more rows, the query again, verify,
then a switchover, the source stopped, and the query on the target alone.

At each step it prints the source's and the target's top 10 side by side. It
exits 0 only when they are identical, and removes the clusters at the end
(--keep leaves them running and prints their URLs).

--upgrade runs the same tutorial as a major-version upgrade: a PostgreSQL 15
source, a PostgreSQL 18 target (make deps builds it), ending with the
switchover onto 18.

It needs the PostgreSQL server binaries and pgvector: make demo installs them
(scripts/install-deps.sh) and runs this command.

Example:
  make demo`,
		run: runDemo,
	})
}

func runDemo(ctx context.Context, env *Env, args []string) error {
	c := commands["demo"]
	f := newFlags(env, c)
	var keep, upgrade bool
	f.boolVar(&keep, "keep", "", "leave the clusters running at the end")
	f.boolVar(&upgrade, "upgrade", "", fmt.Sprintf("replicate into a PostgreSQL %d target: the tutorial as a major-version upgrade", demo.UpgradeMajor))
	if err := f.parse(args); err != nil {
		return err
	}
	return demo.Run(ctx, demo.Options{Out: env.Stdout, Keep: keep, Upgrade: upgrade, Pgvecrep: env.sub})
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
