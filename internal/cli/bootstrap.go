package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/preflight"
	"github.com/pgvecrep/pgvecrep/internal/schema"
)

func init() {
	register(&command{
		name:    "bootstrap",
		summary: "record a group and, with --copy-schema, create the source's schema on the target",
		usage:   "--group-name GROUP [-c|--copy-schema [--schema-name S] [-t t1,t2 | -e t3]] [-s|--special-user-role R] [-d|--track-ddl | --ddl MODE]",
		help: `Bootstrap prepares a replication group. It creates the pgvecrep metadata
schema on the target and records the group there.

With --copy-schema it also copies the source's schema to the target, as
pg_dump --schema-only sees it. By default that is the whole database: every
non-system schema with its extensions, types, domains, functions, sequences,
tables, views, indexes, constraints and triggers. --schema-name, -t or -e
narrow the copy to those tables and everything they depend on: their
schemas, column types and domains, sequences, the functions their defaults,
checks and triggers call, and the tables their foreign keys reference.
--schema-name takes a list: app,audit. As in pg_easy_replicate, -s here is
--special-user-role, not the schema.

The group remembers --schema-name, -t and -e: start_sync replicates those
tables unless it is given a selection of its own.

Objects the target already has are kept (tables are not compared here:
config_check does that), so running it twice is harmless. The rest is
applied in one transaction: if a statement fails, bootstrap names it and the
target is left as it was. Indexes and keys come with the empty tables;
start_sync defers them during its copy, as it does for tables made by hand.

Unlike pg_easy_replicate, it creates no superuser role: pgvecrep works as the
users in the URLs (superusers, or members of --special-user-role).
--ddl MODE (or -d/--track-ddl, the same as --ddl track) records how the
group's start_sync follows schema changes made on the source: see pgvecrep
help start_sync and apply_ddl_change.

Example:
  export SOURCE_DB_URL=postgres://postgres:password@source:5432/postgres
  export TARGET_DB_URL=postgres://postgres:password@target:5432/postgres
  pgvecrep bootstrap --group-name database-cluster-1 --copy-schema
  pgvecrep bootstrap --group-name app-only --copy-schema --schema-name app,audit`,
		run: runBootstrap,
	})
}

func runBootstrap(ctx context.Context, env *Env, args []string) error {
	var name, role string
	var copySchema bool
	var tf tableFlags
	f := groupFlags(env, "bootstrap", &name)
	f.boolVar(&copySchema, "copy-schema", "c", "create the source's schema on the target: the whole database, or what --schema-name/-t/-e select")
	// -s is --special-user-role here, as in pg_easy_replicate's bootstrap.
	f.stringVar(&role, "special-user-role", "s", "", "role the connecting users belong to, when they are not superusers; no extra role is created")
	tf.add(f, "")
	var df ddlFlags
	df.add(f)
	fl := f.Lookup("schema-name")
	fl.DefValue, fl.Usage = "", "with --copy-schema: only this schema's tables and what they need (default: every schema)"
	s, err := f.open(ctx, args, preamble{group: &name, source: required, target: required, creates: true})
	if err != nil {
		return err
	}
	defer s.close()
	filter, err := tf.filter(ctx, s.src)
	if err != nil {
		return err
	}
	if copySchema {
		if err := copySchemaTo(ctx, env, f, s, filter); err != nil {
			return err
		}
	}
	if err := group.EnsureSchema(ctx, s.tgt); err != nil {
		return err
	}
	g, err := group.Create(ctx, s.tgt, name)
	if err != nil {
		return err
	}
	if err := df.recordMode(ctx, f, s.tgt, g); err != nil {
		return err
	}
	if narrowed(f) {
		if err := group.SaveSelection(ctx, s.tgt, name, tf.selection("", role)); err != nil {
			return err
		}
		env.say(event.Event{Phase: event.Setup, Message: fmt.Sprintf("Group %s remembers its tables for start_sync: %s", g.Name, strings.Join(selectionArgs(f, tf), " "))})
	}
	env.say(event.Event{Phase: event.Done, Message: bootstrapped(g)})
	return nil
}

// bootstrapped says where a bootstrapped group stands and what comes next.
// Bootstrap on an existing group changes nothing, so the next step follows
// from the group's phase: start_sync only while it has not started.
func bootstrapped(g group.Group) string {
	n := shellQuote(g.Name)
	switch g.Phase {
	case group.Bootstrapped, group.Failed:
		return fmt.Sprintf("Group %s is bootstrapped (phase %s).\nNext: pgvecrep start_sync --group-name %s", g.Name, g.Phase, n)
	case group.Copying, group.Indexing, group.Streaming:
		return fmt.Sprintf("Group %s was bootstrapped before and is %s now: start_sync has run.\nNext: pgvecrep stats --group-name %s", g.Name, g.Phase, n)
	case group.Stopped:
		return fmt.Sprintf("Group %s was bootstrapped before and is stopped: its tables on the target hold the replica as it was.\n"+
			"Next: pgvecrep stats --group-name %s (starting it again copies everything anew: start_sync --truncate-target)", g.Name, n)
	}
	return fmt.Sprintf("Group %s was bootstrapped before and is %s: the target is the primary now.\nNext: pgvecrep stats --group-name %s", g.Name, strings.ReplaceAll(string(g.Phase), "_", " "), n)
}

// copySchemaTo copies the whole source database's schema, or with -s, -t
// or -e the chosen tables and what they depend on.
func copySchemaTo(ctx context.Context, env *Env, f *flags, s *session, filter catalog.Filter) error {
	var tables []catalog.Table
	if narrowed(f) {
		var err error
		if tables, err = catalog.Tables(ctx, s.src, filter); err != nil {
			return err
		}
	}
	facts, err := pg.LoadFacts(ctx, s.src)
	if err != nil {
		return err
	}
	pgDump, _, err := preflight.FindPgDump(facts.Major())
	if err != nil {
		return err
	}
	pgRestore, err := preflight.PgRestore(pgDump)
	if err != nil {
		return err
	}
	srcURL, _ := f.urls()
	return schema.Copy(ctx, s.src, s.tgt, schema.Options{SourceURL: srcURL, PgDump: pgDump, PgRestore: pgRestore, Tables: tables, Events: lines{env}})
}

// narrowed reports whether a table selection flag was given.
func narrowed(f *flags) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "schema-name", "tables", "t", "exclude-tables", "e":
			set = true
		}
	})
	return set
}
