package cli

import (
	"context"
	"fmt"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Flags of pg_easy_replicate whose job pgvecrep does another way: they are
// accepted, so its users' scripts run, and say in one line what happens.
const (
	recreateIndicesNote = "indexes are always built after the data is copied, never during switchover; nothing to do"
	trackDDLNote        = "DDL tracking is not built yet (it arrives with the DDL issue); apply schema changes on both sides yourself meanwhile"
)

func init() {
	register(&command{
		name:    "list_ddl_changes",
		summary: "list DDL recorded by --track-ddl (not built yet)",
		usage:   "--group-name GROUP [-l|--limit N]",
		help: `List_ddl_changes is pg_easy_replicate's command for the DDL recorded by
--track-ddl. pgvecrep accepts its flags, but DDL tracking is not built yet:
it exits 1 saying so, and records nothing to list.

Example:
  pgvecrep list_ddl_changes --group-name database-cluster-1 --limit 10`,
		run: runListDDL,
	})
	register(&command{
		name:    "apply_ddl_change",
		summary: "apply DDL recorded by --track-ddl on the target (not built yet)",
		usage:   "--group-name GROUP [-i|--id N]",
		help: `Apply_ddl_change is pg_easy_replicate's command to apply recorded DDL on the
target. pgvecrep accepts its flags, but DDL tracking is not built yet: it
exits 1 saying so and changes nothing.

Example:
  pgvecrep apply_ddl_change --group-name database-cluster-1 --id 1`,
		run: runApplyDDL,
	})
}

func runListDDL(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, commands["list_ddl_changes"])
	var name string
	var limit int
	f.stringVar(&name, "group-name", "g", "", "name of the replication group")
	f.intVar(&limit, "limit", "l", 100, 1, "how many changes to list")
	if err := f.parseGroup(args, &name); err != nil {
		return err
	}
	return ddlNotBuilt(name)
}

func runApplyDDL(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, commands["apply_ddl_change"])
	var name string
	var id int
	f.stringVar(&name, "group-name", "g", "", "name of the replication group")
	f.intVar(&id, "id", "i", 0, 1, "the change to apply (default: all, after asking)")
	if err := f.parseGroup(args, &name); err != nil {
		return err
	}
	return ddlNotBuilt(name)
}

func ddlNotBuilt(name string) error {
	return hint.New(fmt.Sprintf("group %s: DDL tracking is not built yet, so no change was recorded", name),
		"apply the schema change on the target by hand, before the source, while the group streams")
}
